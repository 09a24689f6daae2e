"""Search & steer: a query's top 10, its active features as sliders, and the steered results side by side."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.charts import label_text
from dashboard.common import PageContext, run_page, sae_picker
from dashboard.search_cache import query_vector, steerable_search
from data.embed import EmbedderUnavailable

RANGE = 3.0  # a slider spans -RANGE..+RANGE times the feature's largest activation in the corpus


def _parse_clamps(text: str | None) -> dict[int, float]:
    """``"12:0.3,40:-0.1"`` (the ``clamp`` URL parameter) as {latent: value}; malformed parts are dropped."""
    clamps: dict[int, float] = {}
    for part in (text or "").split(","):
        latent, _, value = part.partition(":")
        try:
            clamps[int(latent)] = float(value)
        except ValueError:
            continue
    return clamps


def _results(ctx: PageContext, search, vector: np.ndarray) -> pd.DataFrame:
    hits = search.search(vector, top=10)
    docs = queries.docs_by_id(ctx.path, ctx.version, tuple(int(x) for x in hits.doc_ids))
    docs.insert(0, "rank", range(1, len(docs) + 1))
    docs.insert(2, "cosine", hits.scores[: len(docs)])
    return docs


def _show_results(frame: pd.DataFrame, key: str, marked: set[int]) -> None:
    # A text marker, not a checkbox (which looks clickable); fixed widths fit a half page at 1440 px (no scrolling).
    frame = frame.assign(new=["★" if doc_id not in marked else "" for doc_id in frame["doc_id"]])
    st.dataframe(
        frame[["rank", "new", "title", "published", "link", "cosine"]],
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "rank": st.column_config.NumberColumn("#", width=28),
            "new": st.column_config.TextColumn("new", width=36, help="★: not in the other list"),
            "title": st.column_config.TextColumn("title", width=180),
            "published": st.column_config.DateColumn("date", width=82),
            "cosine": st.column_config.NumberColumn(format="%.3f", width=52),
            "link": st.column_config.LinkColumn("arXiv", width=82, display_text=r"https://arxiv\.org/abs/(.*)"),
        },
    )


def render(ctx: PageContext) -> None:
    st.title("Search & steer")
    sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    st.query_params["sae"] = str(sae_id)  # part of a shareable steered search
    try:
        from evals.steering.errors import SteeringError
    except ImportError:
        st.info("Steering needs the steering package (`evals.steering`), which this checkout does not have.", icon="ℹ️")
        return
    try:
        search = steerable_search(ctx.path, ctx.version, sae_id)
    except (SteeringError, ImportError, FileNotFoundError, LookupError, ValueError, RuntimeError) as error:
        st.warning(f"Steering is not available for SAE #{sae_id}: {error}", icon="⚠️")
        st.caption(
            "Steering needs the SAE's checkpoint (`saes.checkpoint`) and the corpus embeddings of its model: "
            "`just data astro` then `just train astro`."
        )
        return

    # Query, clamps and SAE live in the URL (q, clamp, sae), so a steered search is a shareable link.
    url_query = st.query_params.get("q", "")
    if "steer_query" not in st.session_state or url_query != st.session_state.get("steer_url_query", url_query):
        st.session_state["steer_query"] = url_query  # a link opened in this session wins over the box
    st.session_state["steer_url_query"] = url_query
    query = st.text_input("Query", key="steer_query", placeholder="e.g. transiting exoplanet atmospheres with JWST")
    if not query.strip():
        st.query_params.pop("q", None)
        st.query_params.pop("clamp", None)
        st.session_state["steer_url_query"] = ""
        st.caption("Type a query to see its top 10 abstracts and the features it activates.")
        return
    if st.query_params.get("q") != query:  # a new query: its clamps start afresh
        url_clamps: dict[int, float] = {}
        st.query_params["q"] = st.session_state["steer_url_query"] = query
    else:
        url_clamps = _parse_clamps(st.query_params.get("clamp"))
    try:
        vector = query_vector(ctx.path, ctx.version, sae_id, query)
        active = search.encode(vector)
    except (SteeringError, EmbedderUnavailable) as error:  # e.g. a model the local backend cannot run
        st.warning(f"Cannot embed the query for SAE #{sae_id}: {error}", icon="⚠️")
        return

    shown = [int(x) for x in active.latents]
    original = {int(latent): float(value) for latent, value in zip(active.latents, active.values, strict=False)}
    query_key = zlib.crc32(query.encode())  # a new query starts its sliders and added features afresh
    extra_key = f"steer_extra_{sae_id}_{query_key}"
    extra: list[int] = st.session_state.setdefault(
        extra_key, [latent for latent in url_clamps if latent not in original]
    )
    suggested = queries.common_features(
        ctx.path, ctx.version, sae_id, tuple(int(x) for x in search.search(vector, top=100).doc_ids)
    )
    suggested = [int(x) for x in suggested["latent"] if int(x) not in original and int(x) not in extra]
    with st.expander("Add features", expanded=False):
        all_labels = queries.labels_of(ctx.path, ctx.version, sae_id, tuple(suggested))
        options = {latent: f"{latent}: {label_text(all_labels.get(latent))}" for latent in suggested}
        text = st.text_input("Label contains", key=f"steer_label_search_{query_key}")
        if text:
            hits = queries.label_search(ctx.path, ctx.version, sae_id, text)
            options = {int(r.latent): f"{r.latent}: {label_text(r.label)}" for r in hits.itertuples()}
        else:
            st.caption("Suggested: features active in many of the query's top 100 results but not in the query.")
        pick = st.multiselect(
            "Features to add", list(options), format_func=options.__getitem__, key=f"steer_add_pick_{query_key}"
        )
        if st.button("Add", key="steer_add") and pick:
            extra.extend(latent for latent in pick if latent not in extra and latent not in shown)
    latents = shown + [latent for latent in extra if latent not in shown]
    labels = queries.labels_of(ctx.path, ctx.version, sae_id, tuple(latents))
    table = queries.feature_table(ctx.path, ctx.version, sae_id, None).set_index("latent")["max_act"]

    st.subheader("Features")
    st.caption(
        f"The query activates {len(active.latents)} of {int(sae['n_latents']):,} features (all listed, strongest "
        f"first). Each slider spans ±{RANGE:g}× the feature's largest activation in the corpus; its start is the "
        "query's own value. The query is re-decoded with its reconstruction error kept."
    )
    clamps: dict[int, float] = {}
    columns = st.columns(3)
    for i, latent in enumerate(latents):
        start = round(original.get(latent, 0.0), 4)
        top = float(table.get(latent, 0.0) or 0.0)
        bound = round(RANGE * max(top, abs(start), 1e-3), 3)
        key = f"steer_{sae_id}_{query_key}_{latent}"
        if key not in st.session_state and latent in url_clamps:
            st.session_state[key] = float(min(max(url_clamps[latent], -bound), bound))
        name = f"{latent}: {label_text(labels.get(latent))}"
        with columns[i % 3]:
            # The link sits above a plain-labelled slider, so screen readers hear the name, not its markdown.
            help_text = f"The query's own value: {start:.4f}; the feature's max in the corpus: {top:.4f}"
            st.markdown(f"[{name}](feature?sae={sae_id}&latent={latent})", help=help_text)
            value = st.slider(
                name,
                -bound,
                bound,
                start,
                step=round(bound / 100, 5),
                key=key,
                help=help_text,
                label_visibility="collapsed",
            )
        if abs(value - start) > 1e-9:
            clamps[latent] = value
    if clamps:
        st.query_params["clamp"] = ",".join(f"{latent}:{value:.4g}" for latent, value in clamps.items())
    else:
        st.query_params.pop("clamp", None)
    if st.button("Reset sliders", key="steer_reset"):
        for latent in latents:
            st.session_state.pop(f"steer_{sae_id}_{query_key}_{latent}", None)
        st.session_state[extra_key] = []
        st.query_params.pop("clamp", None)
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
