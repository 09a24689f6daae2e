"""Features: a sortable, filterable table of every latent of an SAE, with score distributions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext, open_feature, run_page, sae_picker

SCORES = ["pearson", "f1", "auroc", "balanced_accuracy"]


def filter_features(
    table: pd.DataFrame,
    search: str,
    min_density: float,
    max_density: float,
    min_pearson: float,
    min_f1: float,
    clean_only: bool,
    family: str,
) -> pd.DataFrame:
    """The rows that pass every filter (unscored features pass score filters at 0)."""
    keep = table["density"].between(min_density, max_density)
    if search:
        keep &= table["label"].fillna("").str.contains(queries.label_pattern(search), case=False, regex=True)
    if min_pearson > -1:
        keep &= table["pearson"].fillna(-1) >= min_pearson
    if min_f1 > 0:
        keep &= table["f1"].fillna(0) >= min_f1
    if clean_only:
        keep &= table["clean"]
    if family:
        keep &= table["families"].fillna("").str.contains(queries.label_pattern(family), case=False, regex=True)
    return table[keep]


def feature_links(sae_id: int, latents: pd.Series) -> list[str]:
    """The relative URL of each latent's feature page (a deep link: ``feature?sae=..&latent=..``)."""
    return [f"feature?sae={sae_id}&latent={int(latent)}" for latent in latents]


def csv_bytes(shown: pd.DataFrame) -> bytes:
    """The shown rows as CSV; ``family_ids`` as a JSON list (``[3, 7]``), not a numpy printout."""

    def as_list(ids) -> str:
        return json.dumps([int(x) for x in ids]) if isinstance(ids, list | np.ndarray) else "[]"

    return shown.assign(family_ids=shown["family_ids"].map(as_list)).to_csv(index=False).encode()


def render(ctx: PageContext) -> None:
    st.title("Features")
    top = st.columns([2, 1])
    with top[0]:
        sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    explainers = queries.explainers(ctx.path, ctx.version, sae_id)
    with top[1]:
        explainer = st.selectbox("Labels from", explainers, key="features_explainer") if explainers else None
    table = queries.feature_table(ctx.path, ctx.version, sae_id, explainer)
    if not explainers:
        st.info(
            "No labels for this SAE yet: the table shows statistics only. Label and score features with "
            "`just interpret astro`.",
            icon="ℹ️",
        )

    with st.expander("Filters", expanded=True):
        row = st.columns([2, 1, 1, 1, 1, 1])
        search = row[0].text_input("Label search", key="features_search", placeholder="e.g. exoplanet")
        highest = float(max(table["density"].max(), 1e-9))
        min_density, max_density = row[1].slider(
            "Density range", 0.0, highest, (0.0, highest), format="%.4f", key=f"features_density_{sae_id}"
        )  # bounds differ per SAE
        min_pearson = row[2].slider("Min Pearson", -1.0, 1.0, -1.0, 0.05, key="features_min_pearson")
        min_f1 = row[3].slider("Min F1", 0.0, 1.0, 0.0, 0.05, key="features_min_f1")
        clean_only = row[4].checkbox(
            "Clean only",
            key="features_clean",
            help="stored clean flag: Pearson, F1 and density pass conf/interp.yaml `clean`",
        )
        family = row[5].text_input("Family", key="features_family", placeholder="family label")
    shown = filter_features(table, search, min_density, max_density, min_pearson, min_f1, clean_only, family)

    weak = int(table["weak"].fillna(False).astype(bool).sum())
    if weak:
        st.caption(
            f":red[{weak:,} labels score at or below their other-label baseline] (red in the table): do not trust them."
        )
    metrics = st.columns(5)
    metrics[0].metric(
        "Features shown", f"{len(shown):,}", delta=f"of {len(table):,}", delta_color="off", delta_arrow="off"
    )
    # Every tile describes the features shown (after the filters), as the table does.
    metrics[1].metric("Dead (density 0)", f"{int((shown['density'] == 0).sum()):,}")
    scored = shown.dropna(subset=["pearson"])
    metrics[2].metric(
        "Clean labels",
        f"{int(shown['clean'].sum()):,}",
        delta=f"{shown['clean'].mean():.1%}" if len(shown) else None,
        delta_color="off",
        delta_arrow="off",
    )
    if len(scored):
        metrics[3].metric(
            "Median Pearson",
            f"{scored['pearson'].median():.3f}",
            delta=f"random labels {scored['random_pearson'].median():.3f}",
            delta_color="off",
            delta_arrow="off",
        )
        metrics[4].metric(
            "Median F1",
            f"{scored['f1'].median():.3f}",
            delta=f"random labels {scored['random_f1'].median():.3f}",
            delta_color="off",
            delta_arrow="off",
        )

    shown = shown.assign(open=feature_links(sae_id, shown["latent"]))
    columns = [
        "open",
        "latent",
        "label",
        "density",
        "auroc_random",
        "auroc_hard",
        "pearson",
        "f1",
        "auroc",
        "balanced_accuracy",
        "clean",
        "families",
        "mean_act",
        "max_act",
    ]
    # Labels at or below their other-label baseline are marked red (the label cell).
    styled = shown[columns].style.apply(
        lambda _: np.where(shown["weak"].fillna(False).astype(bool), "color: #d62728", ""), subset=["label"]
    )
    event = st.dataframe(
        styled,
        hide_index=True,
        width="stretch",
        height=420,
        key="features_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "open": st.column_config.LinkColumn(
                "feature", display_text="open ↗", width="small", help="open the feature page"
            ),
            "latent": st.column_config.NumberColumn("latent", width="small"),
            "label": st.column_config.TextColumn("label", width="large"),
            "density": st.column_config.NumberColumn("density", format="%.4f", width="small"),
            "pearson": st.column_config.NumberColumn(format="%.3f", width="small"),
            "f1": st.column_config.NumberColumn(format="%.3f", width="small"),
            "auroc": st.column_config.NumberColumn(format="%.3f", width="small"),
            "auroc_random": st.column_config.NumberColumn("AUROC rand.", format="%.3f", width="small"),
            "auroc_hard": st.column_config.NumberColumn("AUROC hard", format="%.3f", width="small"),
            "balanced_accuracy": st.column_config.NumberColumn("bal. acc.", format="%.3f", width="small"),
            "mean_act": st.column_config.NumberColumn("mean act", format="%.3f", width="small"),
            "max_act": st.column_config.NumberColumn("max act", format="%.3f", width="small"),
            "clean": st.column_config.CheckboxColumn("clean", width="small"),
            "families": st.column_config.TextColumn("families", width="medium"),
        },
    )
    selected = event.selection.rows if event is not None else []
    actions = st.columns([1, 1, 4])
    if selected:
        latent = int(shown.iloc[selected[0]]["latent"])
        if actions[0].button(f"Open feature {latent}", type="primary", key="features_open"):
            open_feature(sae_id, latent)
    else:
        actions[0].caption("Select a row to open its feature page.")
    actions[1].download_button(
        "Download CSV",
        csv_bytes(shown.drop(columns="open")),
        file_name=f"features_sae{sae_id}.csv",
        mime="text/csv",
        key="features_csv",
    )

    if len(scored) == 0:
        return
    available = [score for score in SCORES if table[score].notna().any()]
    st.subheader("Scores")
    score = st.radio("Score", available, horizontal=True, key="features_score")
    st.plotly_chart(charts.density_vs_score(shown, score), width="stretch", key="density_scatter")
    halves = st.columns(2)
    for i, name in enumerate(available):
        with halves[i % 2]:
            st.plotly_chart(
                charts.score_histogram(shown.dropna(subset=[name]), name), width="stretch", key=f"hist_{name}"
            )
    if not np.isfinite(shown[score].astype(float)).any():
        st.caption("No scored feature passes the filters.")


run_page(render)
