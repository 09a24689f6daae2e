"""Contrast: the features that separate documents by a target (from `just contrast`), tested on the test split."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext, empty_state, open_feature, run_page, sae_picker


def render(ctx: PageContext) -> None:
    st.title("Contrast")
    sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    runs = queries.contrasts(ctx.path, ctx.version, sae_id)
    if runs.empty:
        empty_state(
            "No contrast for this SAE yet",
            "Find the features that separate a group of documents, e.g.:",
            "just contrast astro --target category=astro-ph.GA\njust contrast astro --target published>=2026-01-01",
        )
        return
    options = list(range(len(runs)))
    names = {i: f"{row.target} · {row.method} · {row.n_features} features" for i, row in enumerate(runs.itertuples())}
    run = runs.iloc[st.selectbox("Contrast", options, format_func=names.__getitem__, key="contrast_pick")]
    binary = run["kind"] == "binary"
    metric = "AUC" if binary else "R²"
    metrics = st.columns(4)
    metrics[0].metric(
        f"{metric}, {run['n_features']} features",
        _num(run["features_score"]),
        help="an L2 model on the selected features' activations, fit on the training split, scored on the test split",
    )
    metrics[1].metric(
        f"{metric}, raw embeddings",
        _num(run["embedding_score"]),
        help="the same model on the raw (standardised) embedding vectors: what the features give up",
    )
    metrics[2].metric("Documents (train / test)", f"{run['n_train']:,} / {run['n_test']:,}")
    metrics[3].metric("Share of positives (test)" if binary else "Mean target (test)", f"{run['test_mean']:.3f}")
    st.caption(
        f"Selected by **{run['method']}** on the training split only; every number below is measured on the "
        "test split (docs.split = 'test'). q = Benjamini-Hochberg corrected p-value "
        + ("(Fisher's exact test)." if binary else "(Welch's t-test).")
    )
    features = queries.contrast_features(ctx.path, ctx.version, sae_id, run["target"], run["method"])
    st.plotly_chart(charts.contrast_effects(features, run["kind"]), width="stretch", key="contrast_effects")
    event = st.dataframe(
        features,
        hide_index=True,
        width="stretch",
        key=f"contrast_table_{run['target']}_{run['method']}",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            name: st.column_config.NumberColumn(format="%.3f")
            for name in ("train_score", "mean_with", "mean_without", "effect")
        }
        | {
            "p_value": st.column_config.NumberColumn(format="%.1e"),
            "q_value": st.column_config.NumberColumn("q", format="%.1e"),
        },
    )
    if event is not None and event.selection.rows:
        open_feature(sae_id, int(features.iloc[event.selection.rows[0]]["latent"]))


def _num(value) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"


run_page(render)
