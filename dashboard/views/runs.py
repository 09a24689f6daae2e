"""Runs: every SAE with its config and metrics, the paper's scaling figure, and each SAE's quality card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext, empty_state, run_page
from dashboard.quality_card import card_headline, render_card

# Below this many SAEs a log-axes scaling plot is one or two dots and a fit is meaningless.
MIN_SAES_FOR_SCALING = 3
TABS = ("Default SAE", "All runs")

FVU_NOTE = (
    "**FVU** (fraction of variance unexplained, the paper's normalised MSE) is the one reconstruction "
    "measure on this page: squared error over the variance around the mean. `*_relative_mse` divides the "
    "same error by the raw sum of squares (not centred), so it is always lower; it is kept for reference only."
)


def _scaling_charts(runs: pd.DataFrame) -> None:
    """The scaling figure, dead fraction and L0 against n: only with enough SAEs for a fit."""
    finite = runs[np.isfinite(runs["val_fvu"])]
    if len(finite) < MIN_SAES_FOR_SCALING:
        st.caption(
            f"The scaling fit and the charts against n need at least {MIN_SAES_FOR_SCALING} SAEs with a "
            f"validation FVU; this warehouse has {len(finite)}. Train a grid with `just sweep <corpus>`."
        )
        return
    st.plotly_chart(charts.scaling_figure(runs), width="stretch", key="scaling")
    left, right = st.columns(2)
    with left:
        if np.isfinite(runs["dead_fraction"]).any():
            figure = charts.metric_by_n(runs, "dead_fraction", "Dead latents", "dead fraction", y_range=(0, 1))
            st.plotly_chart(figure, width="stretch", key="dead")
        else:
            st.caption("No dead fraction recorded.")
    with right:
        if np.isfinite(runs["val_l0"]).any():
            figure = charts.metric_by_n(runs, "val_l0", "L0 (active latents per document)", "L0")
            st.plotly_chart(figure, width="stretch", key="l0")
        else:
            st.caption("No L0 recorded.")


def render(ctx: PageContext) -> None:
    st.title("Runs")
    st.caption(f"Warehouse `{ctx.path}`")
    overview = ctx.overview
    columns = st.columns(5)
    columns[0].metric("Documents", f"{overview.n_docs:,}")
    columns[1].metric("Complete SAEs", f"{overview.n_saes:,}")
    columns[2].metric("SAEs with latents", f"{overview.n_populated_saes:,}")
    columns[3].metric("Labelled features", f"{overview.n_interpretations:,}")
    columns[4].metric("Families", f"{overview.n_families:,}")
    if overview.n_docs == 0:
        empty_state("The warehouse has no documents yet", "Ingest a corpus:", "just data astro")
        return
    runs = queries.runs(ctx.path, ctx.version)
    if runs.empty:
        empty_state(
            "No complete SAE run yet", "Train one (or the whole k × n grid):", "just train astro\njust sweep astro"
        )
        return
    stored = queries.stored_evaluations(ctx.path, ctx.version)
    runs["default"] = runs["sae_id"] == overview.default_sae_id
    # Only the open tab runs (its name is in the URL): drawn beside the default SAE's card, the runs grid and the
    # plotly scaling charts held its density chart back by about 0.7 s on a cold start (`just bench dashboard`).
    card_tab, runs_tab = st.tabs(list(TABS), key="runs_tab", bind="query-params")
    if card_tab.open:
        with card_tab:
            _default_card(runs, stored)
    if runs_tab.open:
        with runs_tab:
            _all_runs(runs, stored)


def _default_card(runs: pd.DataFrame, stored: queries.StoredEvaluations) -> None:
    """The SAE every page opens, and how good it is."""
    default = runs[runs["default"]]
    if default.empty:
        st.caption("No SAE has stored latents yet, so no page has a default SAE: every run is under *All runs*.")
        return
    row = default.iloc[0]
    st.caption(
        f"Every page and command opens SAE #{row['sae_id']} unless told otherwise: an atlas SAE "
        "(`just atlas`, the sparse one to read) if there is one, else the one `just sweep` recommended, else "
        "the one with the most latents."
    )
    _card(row, stored)


def _all_runs(runs: pd.DataFrame, stored: queries.StoredEvaluations) -> None:
    """Every complete SAE, one run's details on demand, and the scaling charts."""
    table = runs[
        [
            "sae_id",
            "default",
            "purpose",
            "name",
            "corpus",
            "embed_model",
            "d",
            "n_latents",
            "k",
            "k_aux",
            "val_fvu",
            "val_l0",
            "dead_fraction",
            "has_latents",
            "finished_at",
        ]
    ]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="runs_table",
        column_config={
            "val_fvu": st.column_config.NumberColumn("val FVU", format="%.4f"),
            "val_l0": st.column_config.NumberColumn("val L0", format="%.1f"),
            "dead_fraction": st.column_config.NumberColumn("dead fraction", format="%.3f"),
            "has_latents": st.column_config.CheckboxColumn("latents stored"),
            "default": st.column_config.CheckboxColumn("default", help="the SAE every page and command opens"),
        },
    )
    _run_details(runs, stored)
    _scaling_charts(runs)


def _run_details(runs: pd.DataFrame, stored: queries.StoredEvaluations) -> None:
    """One run's quality card (as `just report`, `just fidelity` and `just steer-bench` stored it; nothing is
    recomputed), config and metrics. Drawn only once a run is picked: a sweep's dozen cards, or even two JSON
    trees, cost every visit of this page time it spends before its first chart."""
    labels = {int(row["sae_id"]): _card_label(row, stored) for _, row in runs.sort_values("sae_id").iterrows()}
    picked = st.selectbox(
        "Details of one run",
        list(labels),
        index=None,
        placeholder="Pick a run: its quality card, config and metrics",
        format_func=labels.__getitem__,
        key="run_pick",
    )
    if picked is None:
        return
    row = runs[runs["sae_id"] == picked].iloc[0]
    _card(row, stored)
    left, right = st.columns(2)
    left.markdown("**Config**")
    left.json(json.loads(row["config"] or "{}"))
    right.markdown("**Metrics** (as the trainer stored them)")
    right.json(json.loads(row["metrics"] or "{}"))
    right.caption(FVU_NOTE)


def _card_label(row: pd.Series, stored: queries.StoredEvaluations) -> str:
    card = stored.reports.get(int(row["sae_id"]))
    return f"#{row['sae_id']} · {row['name']} · n={row['n_latents']:,} k={row['k']} · {card_headline(card)}"


def _card(row: pd.Series, stored: queries.StoredEvaluations) -> None:
    """A run's quality card, open when one is stored."""
    with st.expander(_card_label(row, stored), expanded=int(row["sae_id"]) in stored.reports):
        render_card(int(row["sae_id"]), row["corpus"], stored)


run_page(render)
