"""Families: feature families as a tree, each family's co-occurrence heatmap, and family scores."""
from __future__ import annotations

import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext, empty_state, open_feature, run_page, sae_picker


def render(ctx: PageContext) -> None:
    st.title("Families")
    sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    families = queries.families(ctx.path, ctx.version, sae_id)
    if families.empty:
        empty_state("No feature families for this SAE yet", "Build them (co-occurrence graph, spanning tree):",
                    "just families astro")
        return
    members = queries.family_members(ctx.path, ctx.version, sae_id)
    metrics = st.columns(4)
    metrics[0].metric("Families", f"{len(families):,}")
    metrics[1].metric("Features in a family", f"{members['latent'].nunique():,}")
    metrics[2].metric("Median family size", f"{families['size'].median():.0f}")
    metrics[3].metric("Clean families", f"{int(families['clean'].sum()):,}",
                      help="stored clean flag: label Pearson and F1 and family density pass conf/interp.yaml `clean`")

    biggest = len(families)
    if len(families) > 1:
        biggest = st.slider("Families in the tree (largest first)", 1, len(families), min(40, len(families)), key="families_shown")
    shown = families.head(biggest)
    st.plotly_chart(charts.family_treemap(shown, members[members["family_id"].isin(shown["family_id"])]),
                    width="stretch", key="family_tree")

    st.subheader("One family")
    names = {int(r.family_id): f"#{r.family_id} · {charts.label_text(r.label)} ({r.size} members)" for r in families.itertuples()}
    family_id = st.selectbox("Family", list(names), format_func=names.__getitem__, key="family_pick")
    family = families[families["family_id"] == family_id].iloc[0]
    own = members[members["family_id"] == family_id]
    left, right = st.columns([2, 3])
    with left:
        cols = st.columns(3)
        for column, score in zip(cols, ["pearson", "f1", "auroc"]):
            column.metric(f"Family {score}", "–" if family[score] != family[score] else f"{family[score]:.3f}")
        st.caption(f"Root latent {family['root_latent']}: {charts.label_text(family['root_label'])} · pass {family['pass']}")
        event = st.dataframe(own[["latent", "label", "depth", "parent_latent", "density"]], hide_index=True, width="stretch",
                             key=f"family_members_{family_id}", on_select="rerun", selection_mode="single-row",
                             column_config={"density": st.column_config.NumberColumn(format="%.4f")})
        if event is not None and event.selection.rows:
            open_feature(sae_id, int(own.iloc[event.selection.rows[0]]["latent"]))
    with right:
        pairs = queries.family_cooccurrence(ctx.path, ctx.version, sae_id, family_id)
        if pairs.empty:
            st.caption("No activations stored for these features, so no co-occurrence to show.")
        else:
            labels = dict(zip(own["latent"].astype(int), own["label"]))
            st.plotly_chart(charts.cooccurrence_heatmap(pairs, labels), width="stretch", key="family_heatmap")

    st.subheader("Family scores")
    if families[["pearson", "f1"]].notna().all(axis=1).any():
        st.plotly_chart(charts.family_scores(families), width="stretch", key="family_scores")
    else:
        st.caption("No family has a scored label yet.")
    st.dataframe(families, hide_index=True, width="stretch", key="families_table")


run_page(render)
