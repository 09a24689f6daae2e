"""Runs: every SAE with its config and metrics, and the paper's scaling figure."""
from __future__ import annotations

import json

import numpy as np
import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext, empty_state, run_page


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
        empty_state("No complete SAE run yet", "Train one (or the whole k × n grid):", "just train astro\njust sweep astro")
        return
    if np.isfinite(runs["val_fvu"]).any():
        st.plotly_chart(charts.scaling_figure(runs), width="stretch", key="scaling")
    else:
        st.info("No run recorded a validation FVU (`val_fvu` in `saes.metrics`) yet.")
    left, right = st.columns(2)
    with left:
        if np.isfinite(runs["dead_fraction"]).any():
            st.plotly_chart(charts.metric_by_n(runs, "dead_fraction", "Dead latents", "dead fraction"),
                            width="stretch", key="dead")
        else:
            st.caption("No dead fraction recorded.")
    with right:
        if np.isfinite(runs["val_l0"]).any():
            st.plotly_chart(charts.metric_by_n(runs, "val_l0", "L0 (active latents per document)", "L0"),
                            width="stretch", key="l0")
        else:
            st.caption("No L0 recorded.")
    st.subheader("All runs")
    table = runs[["sae_id", "name", "corpus", "embed_model", "d", "n_latents", "k", "k_aux", "val_fvu", "val_l0",
                  "dead_fraction", "has_latents", "finished_at"]]
    st.dataframe(table, hide_index=True, width="stretch", key="runs_table",
                 column_config={"val_fvu": st.column_config.NumberColumn("val FVU", format="%.4f"),
                                "val_l0": st.column_config.NumberColumn("val L0", format="%.1f"),
                                "dead_fraction": st.column_config.NumberColumn("dead fraction", format="%.3f"),
                                "has_latents": st.column_config.CheckboxColumn("latents stored")})
    with st.expander("Config and metrics of one run"):
        sae_id = st.selectbox("Run", runs["sae_id"].tolist(), key="runs_detail")
        row = runs[runs["sae_id"] == sae_id].iloc[0]
        left, right = st.columns(2)
        left.json(json.loads(row["config"] or "{}"))
        right.json(json.loads(row["metrics"] or "{}"))


run_page(render)
