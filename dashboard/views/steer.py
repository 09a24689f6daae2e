"""Search & steer: a query's top 10, its active features as sliders, and the steered results side by side."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import queries
from data.embed import EmbedderUnavailable
from dashboard.charts import label_text
from dashboard.common import PageContext, run_page, sae_picker

MAX_SLIDERS = 12


@st.cache_resource(show_spinner="Loading the SAE and the corpus embeddings…", max_entries=2)
def _steerable_search(path: str, version: queries.Version, sae_id: int):
    """The search object (embeddings + SAE in memory; no connection kept) for one SAE of one file version."""
    from evals.steering.search import SteerableSearch

    return SteerableSearch(path, sae_id)


@st.cache_data(show_spinner="Embedding the query…", max_entries=64)
def _query_vector(path: str, version: queries.Version, sae_id: int, text: str) -> np.ndarray:
    return _steerable_search(path, version, sae_id).embed(text)


def _results(ctx: PageContext, search, vector: np.ndarray) -> pd.DataFrame:
    hits = search.search(vector, top=10)
    docs = queries.docs_by_id(ctx.path, ctx.version, tuple(int(x) for x in hits.doc_ids))
    docs.insert(0, "rank", range(1, len(docs) + 1))
    docs.insert(2, "cosine", hits.scores[: len(docs)])
    return docs


def _show_results(frame: pd.DataFrame, key: str, marked: set[int]) -> None:
    frame = frame.assign(new=[doc_id not in marked for doc_id in frame["doc_id"]])
    st.dataframe(frame[["rank", "cosine", "new", "title", "published", "link"]], hide_index=True, width="stretch", key=key,
                 column_config={"cosine": st.column_config.NumberColumn(format="%.3f"),
                                "link": st.column_config.LinkColumn("arXiv", display_text=r"https://arxiv\.org/abs/(.*)"),
                                "new": st.column_config.CheckboxColumn("new", help="not in the other list")})


def render(ctx: PageContext) -> None:
    st.title("Search & steer")
    sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    try:
        from evals.steering.errors import SteeringError
    except ImportError:
        st.info("Steering needs the steering package (`evals.steering`), which this checkout does not have.", icon="ℹ️")
        return
    try:
        search = _steerable_search(ctx.path, ctx.version, sae_id)
    except (SteeringError, ImportError, FileNotFoundError, LookupError, ValueError, RuntimeError) as error:
        st.warning(f"Steering is not available for SAE #{sae_id}: {error}", icon="⚠️")
        st.caption("Steering needs the SAE's checkpoint (`saes.checkpoint`) and the corpus embeddings of its model: "
                   "`just data astro` then `just train astro`.")
        return

    query = st.text_input("Query", key="steer_query", placeholder="e.g. transiting exoplanet atmospheres with JWST")
    if not query.strip():
        st.caption("Type a query to see its top 10 abstracts and the features it activates.")
        return
    try:
        vector = _query_vector(ctx.path, ctx.version, sae_id, query)
        active = search.encode(vector)
    except (SteeringError, EmbedderUnavailable) as error:  # e.g. a model the local backend cannot run
        st.warning(f"Cannot embed the query for SAE #{sae_id}: {error}", icon="⚠️")
        return

    shown = [int(x) for x in active.latents[:MAX_SLIDERS]]
    original = {int(latent): float(value) for latent, value in zip(active.latents, active.values)}
    extra_key = f"steer_extra_{sae_id}"
    extra: list[int] = st.session_state.setdefault(extra_key, [])
    with st.expander("Add features by label", expanded=False):
        text = st.text_input("Label contains", key="steer_label_search")
        if text:
            hits = queries.label_search(ctx.path, ctx.version, sae_id, text)
            options = {int(r.latent): f"{r.latent}: {label_text(r.label)}" for r in hits.itertuples()}
            pick = st.multiselect("Features to add", list(options), format_func=options.__getitem__, key="steer_add_pick")
            if st.button("Add", key="steer_add") and pick:
                extra.extend(latent for latent in pick if latent not in extra and latent not in shown)
    latents = shown + [latent for latent in extra if latent not in shown]
    labels = queries.labels_of(ctx.path, ctx.version, sae_id, tuple(latents))

    st.subheader("Features")
    st.caption(f"The query activates {len(active.latents)} of {int(sae['n_latents']):,} features (strongest "
               f"{len(shown)} shown). Move a slider to set that feature's activation; the query is re-decoded "
               "with its reconstruction error kept.")
    clamps: dict[int, float] = {}
    query_key = zlib.crc32(query.encode())  # a new query starts its sliders afresh
    columns = st.columns(3)
    for i, latent in enumerate(latents):
        start = round(original.get(latent, 0.0), 3)
        with columns[i % 3]:
            value = st.slider(f"{latent}: {label_text(labels.get(latent))}", 0.0, round(max(1.0, 3 * start), 2), start,
                              step=0.001, key=f"steer_{sae_id}_{query_key}_{latent}")
        if value != start:
            clamps[latent] = value
    if st.button("Reset sliders", key="steer_reset"):
        for latent in latents:
            st.session_state.pop(f"steer_{sae_id}_{query_key}_{latent}", None)
        st.session_state[extra_key] = []
        st.rerun()

    try:
        steered = search.clamp(vector, clamps) if clamps else vector
        before = _results(ctx, search, vector)
        after = _results(ctx, search, steered)
    except SteeringError as error:
        st.warning(str(error))
        return
    cosine = float(np.dot(vector, steered) / (np.linalg.norm(vector) * np.linalg.norm(steered)))
    metrics = st.columns(3)
    metrics[0].metric("cos(q, q′)", f"{cosine:.4f}")
    metrics[1].metric("Features changed", len(clamps))
    metrics[2].metric("Results in common", f"{len(set(before['doc_id']) & set(after['doc_id']))} / 10")
    left, right = st.columns(2)
    with left:
        st.markdown("**Before: the query as typed**")
        _show_results(before, "steer_before", set(after["doc_id"]))
    with right:
        st.markdown("**After: the steered query**")
        _show_results(after, "steer_after", set(before["doc_id"]))


run_page(render)
