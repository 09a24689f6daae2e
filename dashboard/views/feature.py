"""Feature page: one latent's label (red when at or below its baseline), scores, abstracts across the
activation range and near misses, histogram, neighbors, families and splits."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext, empty_state, int_param, open_feature, remember, run_page, sae_picker
from dashboard.prevalence import render_prevalence


def _default_latent(ctx: PageContext, sae_id: int) -> int:
    """The labelled latent whose label beats its baseline by most, else the densest latent whose
    label (if any) is not at or below its baseline: the page never opens on a label it marks red."""
    table = queries.feature_table(ctx.path, ctx.version, sae_id, None)
    labelled = queries.explainers(ctx.path, ctx.version, sae_id)
    if labelled:
        table = queries.feature_table(ctx.path, ctx.version, sae_id, labelled[0])
        scored = table[~table["weak"].astype(bool) & (table["label"] != queries.NO_CONCEPT)].dropna(subset=["auroc"])
        if len(scored):
            margin = (
                scored["auroc_random"]
                + scored["auroc_hard"]
                - scored["random_auroc_random"]
                - scored["random_auroc_hard"]
            ).fillna(scored["auroc"] - scored["random_auroc"])
            return int(
                scored.assign(margin=margin).sort_values(["margin", "density"], ascending=False).iloc[0]["latent"]
            )
    usable = table[~table["weak"].fillna(False).astype(bool)] if "weak" in table else table
    return int((usable if len(usable) else table).sort_values("density", ascending=False).iloc[0]["latent"])


def _abstract_table(frame: pd.DataFrame, key: str, columns: list[str]) -> None:
    st.dataframe(
        frame[columns],
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "activation": st.column_config.NumberColumn(format="%.3f", width="small"),
            "rating": st.column_config.NumberColumn("label's rating", format="%.2f", width="small"),
            "title": st.column_config.TextColumn(width="large"),
            "link": st.column_config.LinkColumn("arXiv", display_text=r"https://arxiv\.org/abs/(.*)", width="small"),
        },
    )


def _linked_table(frame: pd.DataFrame, key: str, sae_id: int, columns: list[str]) -> None:
    """A table of other latents, full width: the "open" link (or selecting a row) opens that latent's page."""
    if frame.empty:
        st.caption("Nothing stored yet.")
        return
    links = [f"feature?sae={sae_id}&latent={int(latent)}" for latent in frame["latent"]]
    # The key carries the shown latent, so a selection never survives into the next feature's page.
    event = st.dataframe(
        frame.assign(open=links)[["open", *columns]],
        hide_index=True,
        width="stretch",
        key=key,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "open": st.column_config.LinkColumn("feature", display_text="open ↗", width="small"),
            "latent": st.column_config.NumberColumn(width="small"),
            "label": st.column_config.TextColumn("label", width="large"),
            "cosine": st.column_config.NumberColumn(format="%.3f", width="small"),
            "weight": st.column_config.NumberColumn(
                "weight",
                format="%.2f",
                help="co-occurrence weight as stored (families pipeline), "
                "or P(j | i) for the rarer latent when computed here",
            ),
        },
    )
    if event is not None and event.selection.rows:
        open_feature(sae_id, int(frame.iloc[event.selection.rows[0]]["latent"]))


def render(ctx: PageContext) -> None:
    head = st.columns([2, 1, 2])
    with head[0]:
        sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    n_latents = int(sae["n_latents"])
    latent = int_param("latent", st.session_state.get("latent"))
    # A bad deep link (latent=abc, latent=99999) is named as such, never silently replaced by another feature.
    raw = st.query_params.get("latent")
    bad_link = raw if raw is not None and not (raw.strip().isdigit() and 0 <= int(raw) < n_latents) else None
    if bad_link is not None or latent is None or not 0 <= latent < n_latents:
        latent = _default_latent(ctx, sae_id)
    st.session_state["feature_latent"] = latent
    with head[1]:
        st.number_input(
            "Latent",
            min_value=0,
            max_value=n_latents - 1,
            step=1,
            key="feature_latent",
            on_change=remember,
            args=("latent", "latent", "feature_latent"),
        )
    with head[2]:
        search = st.text_input("Find a feature by label", key="feature_search", placeholder="e.g. pulsar timing")
        if search:
            hits = queries.label_search(ctx.path, ctx.version, sae_id, search)
            if hits.empty:
                st.caption("No label matches.")
            else:
                options = {int(r.latent): f"{r.latent}: {charts.label_text(r.label)}" for r in hits.itertuples()}
                pick = st.selectbox(
                    "Matches", list(options), format_func=options.__getitem__, key="feature_search_pick"
                )
                if st.button("Open", key="feature_search_open"):
                    open_feature(sae_id, pick)
    if bad_link is not None:
        st.error(
            f"`latent={bad_link[:40]}` is not a feature of SAE #{sae_id}: use a whole number from 0 to {n_latents - 1} "
            "(type one in the Latent box, or open one from the Features table).",
            icon="⚠️",
        )
        return
    st.session_state["latent"] = latent

    detail = queries.feature_detail(ctx.path, ctx.version, sae_id, latent)
    if detail.stats.empty:
        empty_state(f"Latent {latent} has no statistics in SAE {sae_id}", "Write them with:", "just train astro")
        return
    stats = detail.stats.iloc[0]
    best = detail.interpretations.iloc[0] if len(detail.interpretations) else None
    label = charts.label_text(best["label"] if best is not None else None, "(no label yet)")
    weak = best is not None and bool(best["weak"])
    st.title(f"Feature {latent}: {label}")
    if weak:
        st.error(
            "This label scores at or below its other-label baseline (another feature's label does as well "
            "on the held-out abstracts): do not trust it.",
            icon="⚠️",
        )
    elif label == queries.NO_CONCEPT:
        st.info(
            "No phrase of its abstracts separates this feature from others better than another feature's "
            "label: read the abstracts below instead of a name.",
            icon="ℹ️",
        )
    if best is not None and pd.notna(best.get("duplicate_of")):
        st.caption(f"Near-duplicate label: latent {int(best['duplicate_of'])} has the same label and scores better.")
    # Search & steer with this feature pushed to its corpus maximum, searching for its own label.
    steer_url = "steer?" + urlencode(
        {
            "sae": sae_id,
            "q": label if best is not None else f"feature {latent}",
            "clamp": f"{latent}:{float(detail.stats.iloc[0]['max_act']):.4g}",
        }
    )
    st.link_button("Steer with this feature", steer_url, icon=":material/tune:")
    if best is not None:
        kind = "offline proxy" if best["is_proxy"] else "LLM"
        st.caption(
            f"Explainer **{best['explainer']}** ({kind}), scored by **{best['predictor']}** on "
            f"{best['n_scored'] or 0} held-out abstracts · SAE #{sae_id} n={n_latents:,} k={int(sae['k'])}"
        )
    else:
        st.caption("No label yet: run `just interpret astro`.")

    metrics = st.columns(6)
    metrics[0].metric("Density", f"{stats['density']:.3%}", help="fraction of documents where the feature is active")
    metrics[1].metric("Mean activation", f"{stats['mean_act']:.3f}")
    metrics[2].metric("Max activation", f"{stats['max_act']:.3f}")
    names = {"pearson": "Pearson", "auroc_random": "AUROC vs random", "auroc_hard": "AUROC vs hard"}
    for column, score in zip(metrics[3:], names, strict=False):
        if best is not None and pd.notna(best[score]):
            baseline = best[f"random_{score}"]
            column.metric(
                names[score],
                f"{best[score]:.3f}",
                delta=f"other label {baseline:.3f}" if pd.notna(baseline) else None,
                delta_color="off",
                delta_arrow="off",
            )
    if len(detail.interpretations) > 1:
        with st.expander(f"All {len(detail.interpretations)} labels and scores"):
            st.dataframe(detail.interpretations, hide_index=True, width="stretch")

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Top abstracts")
        if detail.top_docs.empty:
            st.caption("No activations stored for this feature (dead, or activations not written yet).")
        else:
            st.dataframe(
                detail.top_docs[["activation", "link", "published", "title"]],
                hide_index=True,
                width="stretch",
                key="top_docs",
                column_config={
                    "activation": st.column_config.NumberColumn(format="%.3f", width="small"),
                    "title": st.column_config.TextColumn(width="large"),
                    "published": st.column_config.DateColumn(width="small"),
                    "link": st.column_config.LinkColumn(
                        "arXiv", display_text=r"https://arxiv\.org/abs/(.*)", width="small"
                    ),
                },
            )
            for row in detail.top_docs.head(3).itertuples():
                with st.expander(f"{row.activation:.3f} · {row.title}"):
                    st.write(row.abstract)
    with right:
        if len(detail.activation_values):
            st.plotly_chart(charts.activation_histogram(detail.activation_values), width="stretch", key="act_hist")

    left, right = st.columns(2)
    with left:
        st.subheader("Across the activation range")
        if detail.range_docs.empty:
            st.caption("No activations stored for this feature.")
        else:
            _abstract_table(detail.range_docs, "range_docs", ["band", "activation", "title", "link"])
    with right:
        st.subheader("Near misses")
        if detail.near_misses.empty:
            st.caption("The nearest non-activating abstracts appear once `just interpret astro` has run.")
        else:
            st.caption(
                "Non-activating abstracts nearest the feature's activating ones (interpretation's hard negatives)."
            )
            _abstract_table(detail.near_misses, "near_misses", ["rating", "title", "link"])

    render_prevalence(ctx, sae_id, latent)

    # Tabs give each table the page's full width, so labels are shown whole.
    st.subheader("Related features")
    tabs = st.tabs(
        ["Nearest by decoder cosine", "Farthest by decoder cosine", f"Co-occurring ({detail.cooccurrence_source})"]
    )
    with tabs[0]:
        _linked_table(detail.nearest, f"nearest_{latent}", sae_id, ["latent", "cosine", "label"])
    with tabs[1]:
        _linked_table(detail.farthest, f"farthest_{latent}", sae_id, ["latent", "cosine", "label"])
    with tabs[2]:
        _linked_table(detail.cooccurring, f"cooccurring_{latent}", sae_id, ["latent", "count", "weight", "label"])

    st.markdown("**Families**")
    if detail.families.empty:
        st.caption("Not in any family (or `just families astro` has not run).")
    else:
        families = detail.families.assign(
            open=[f"families?sae={sae_id}&family={int(f)}" for f in detail.families["family_id"]]
        )
        st.dataframe(
            families[["open", "family_id", "label", "root_latent", "depth", "parent_latent", "f1", "pearson"]],
            hide_index=True,
            width="stretch",
            key="feature_families",
            column_config={
                "open": st.column_config.LinkColumn("family", display_text="open ↗", width="small"),
                "label": st.column_config.TextColumn("label", width="large"),
                "f1": st.column_config.NumberColumn(format="%.3f"),
                "pearson": st.column_config.NumberColumn(format="%.3f"),
            },
        )
    columns = st.columns(2)
    with columns[0]:
        st.markdown("**Split parents** (smaller SAEs)")
        if detail.split_parents.empty:
            st.caption("No smaller SAE matched (splits not computed).")
        else:
            st.dataframe(
                detail.split_parents,
                hide_index=True,
                width="stretch",
                key="split_parents",
                column_config={"cosine": st.column_config.NumberColumn(format="%.3f")},
            )
    with columns[1]:
        st.markdown("**Split children** (larger SAEs)")
        if detail.split_children.empty:
            st.caption("No larger SAE latent maps here.")
        else:
            st.dataframe(
                detail.split_children,
                hide_index=True,
                width="stretch",
                key="split_children",
                column_config={"cosine": st.column_config.NumberColumn(format="%.3f")},
            )


run_page(render)
