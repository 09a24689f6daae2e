"""Families: each family as an indented tree (densest first), its co-occurrence heatmap (at most 30
members), its coherence, and family scores."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext, empty_state, int_param, open_feature, remember, run_page, sae_picker

# Members shown in a family's co-occurrence heatmap (beyond ~30 the cells are unreadable).
HEATMAP_MEMBERS = 30


def _family_name(family) -> str:
    """'#id · label (n members)'; a family without a clear concept of its own names its root's label."""
    name = f"#{family.family_id} · {charts.label_text(family.label)} ({family.size} members)"
    root = charts.label_text(family.root_label, queries.NO_CONCEPT)
    return name + (f" · root: {root}" if family.label == queries.NO_CONCEPT and root != queries.NO_CONCEPT else "")


def indented_tree(members: pd.DataFrame) -> pd.DataFrame:
    """A family's members depth first from the root, siblings densest first, each indented by its depth."""
    children: dict[int, list] = {}
    root = None
    for row in members.itertuples():
        if pd.isna(row.parent_latent):
            root = row
        else:
            children.setdefault(int(row.parent_latent), []).append(row)
    ordered, stack = [], [root] if root is not None else []
    while stack:
        row = stack.pop()
        ordered.append(
            {
                "latent": int(row.latent),
                "label": row.label,
                "density": row.density,
                "member": "\u2003" * int(row.depth)
                + ("└ " if row.depth else "")
                + f"{row.latent}: {charts.label_text(row.label)}",
            }
        )
        stack += sorted(children.get(int(row.latent), []), key=lambda r: r.density if r.density == r.density else 0)
    return pd.DataFrame(ordered, columns=["latent", "label", "density", "member"])


def render(ctx: PageContext) -> None:
    st.title("Families")
    sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    families = queries.families(ctx.path, ctx.version, sae_id)
    if families.empty:
        empty_state(
            "No feature families for this SAE yet",
            "Build them (co-occurrence graph, spanning tree):",
            "just families astro",
        )
        return
    members = queries.family_members(ctx.path, ctx.version, sae_id)
    metrics = st.columns(4)
    metrics[0].metric("Families", f"{len(families):,}")
    metrics[1].metric("Features in a family", f"{members['latent'].nunique():,}")
    metrics[2].metric("Median family size", f"{families['size'].median():.0f}")
    metrics[3].metric(
        "Clean families",
        f"{int(families['clean'].sum()):,}",
        help="stored clean flag: label Pearson and F1 and family density pass conf/interp.yaml `clean`",
    )

    st.subheader("One family")
    names = {int(r.family_id): _family_name(r) for r in families.itertuples()}
    wanted = int_param("family", st.session_state.get("family_id"))  # a deep link: families?family=ID
    if wanted in names:
        st.session_state["family_pick"] = wanted
    elif "family" in st.query_params:
        st.warning(f"`family={st.query_params['family'][:40]}` is not a family of SAE #{sae_id}; showing the first.")
    family_id = st.selectbox(
        "Family",
        list(names),
        format_func=names.__getitem__,
        key="family_pick",
        on_change=remember,
        args=("family", "family_id", "family_pick"),
    )
    family = families[families["family_id"] == family_id].iloc[0]
    own = members[members["family_id"] == family_id]
    left, right = st.columns([2, 3])
    with left:
        cols = st.columns(3)
        for column, score in zip(cols, ["pearson", "f1", "auroc"], strict=False):
            column.metric(f"Family {score}", "–" if family[score] != family[score] else f"{family[score]:.3f}")
        st.caption(
            f"Root latent {family['root_latent']}: {charts.label_text(family['root_label'])} · pass {family['pass']}"
        )
        st.caption(
            f"Members co-occur {family['cooccurrence_lift']:.1f}x as often as independent features would; "
            f"label-free coherence of its top test abstracts {family['coherence']:.3f}"
            if family["cooccurrence_lift"] == family["cooccurrence_lift"] and family["coherence"] == family["coherence"]
            else "Coherence not computed (run `just families astro` again)."
        )
        tree = indented_tree(own)
        event = st.dataframe(
            tree[["member", "density", "latent"]],
            hide_index=True,
            width="stretch",
            key=f"family_members_{family_id}",
            on_select="rerun",
            selection_mode="single-row",
            column_config={
                "density": st.column_config.NumberColumn(format="%.4f"),
                "member": st.column_config.TextColumn("member (indented by depth, densest first)"),
            },
        )
        if event is not None and event.selection.rows:
            open_feature(sae_id, int(tree.iloc[event.selection.rows[0]]["latent"]))
    with right:
        pairs = queries.family_cooccurrence(ctx.path, ctx.version, sae_id, family_id)
        if pairs.empty:
            st.caption("No activations stored for these features, so no co-occurrence to show.")
        else:
            shown = tree.head(HEATMAP_MEMBERS)  # the root and the densest members: a readable heatmap
            labels = dict(zip(shown["latent"].astype(int), shown["label"], strict=False))
            pairs = pairs[pairs["latent"].isin(labels) & pairs["other"].isin(labels)]
            st.plotly_chart(charts.cooccurrence_heatmap(pairs, labels), width="stretch", key="family_heatmap")
            if len(tree) > HEATMAP_MEMBERS:
                st.caption(f"Heatmap of the first {HEATMAP_MEMBERS} of {len(tree)} members in tree order.")

    st.subheader("Family scores")
    if families[["pearson", "f1"]].notna().all(axis=1).any():
        st.plotly_chart(charts.family_scores(families), width="stretch", key="family_scores")
    else:
        st.caption("No family has a scored label yet.")
    st.dataframe(families, hide_index=True, width="stretch", key="families_table")


run_page(render)
