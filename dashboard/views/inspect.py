"""Inspect: paste any text or an arXiv id and see every feature that fires, with value, label, score and link."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.charts import label_text
from dashboard.common import PageContext, run_page, sae_picker
from dashboard.queries import inspect as inspect_queries
from dashboard.search_cache import query_vector, steerable_search
from data.embed import EmbedderUnavailable

# A new-style (2301.01234) or old-style (astro-ph/0601001) arXiv id, with an optional version. (A comment, not a
# docstring: Streamlit's magic would draw a bare string on the page.)
ARXIV_ID = re.compile(r"^\s*(?:arxiv:)?(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)\s*$", re.I)


def _features_table(ctx: PageContext, sae_id: int, activations: dict[int, float]) -> None:
    rows = inspect_queries.feature_rows(ctx.path, ctx.version, sae_id, tuple(activations))
    frame = pd.DataFrame({"latent": list(activations), "value": list(activations.values())})
    frame = frame.merge(rows, on="latent", how="left")
    frame["label"] = [label_text(label) for label in frame["label"]]
    frame["of max"] = frame["value"] / frame["max_act"]
    frame["open"] = [f"feature?sae={sae_id}&latent={latent}" for latent in frame["latent"]]
    st.dataframe(
        frame[["latent", "value", "of max", "label", "score", "density", "open"]],
        hide_index=True,
        width="stretch",
        key="inspect_features",
        column_config={
            "latent": st.column_config.NumberColumn("feature", width=60),
            "value": st.column_config.NumberColumn(format="%.4f", width=70),
            "of max": st.column_config.ProgressColumn(
                "of its max", format="%.2f", min_value=0.0, max_value=1.0, width=90
            ),
            "label": st.column_config.TextColumn("label", width="large"),
            "score": st.column_config.NumberColumn(
                "AUROC", format="%.2f", width=60, help="held-out AUROC of the label (random negatives)"
            ),
            "density": st.column_config.NumberColumn(format="%.3f", width=65),
            "open": st.column_config.LinkColumn("page", display_text="open", width=50),
        },
    )


def _nearest(ctx: PageContext, search, vector: np.ndarray, exclude: int | None) -> None:
    hits = search.search(vector, top=11)
    keep = [(int(doc), float(score)) for doc, score in zip(hits.doc_ids, hits.scores, strict=False) if doc != exclude]
    docs = queries.docs_by_id(ctx.path, ctx.version, tuple(doc for doc, _ in keep[:10]))
    docs.insert(2, "cosine", [score for _, score in keep[: len(docs)]])
    st.dataframe(
        docs[["title", "published", "link", "cosine"]],
        hide_index=True,
        width="stretch",
        key="inspect_nearest",
        column_config={
            "title": st.column_config.TextColumn("title", width="large"),
            "published": st.column_config.DateColumn("date", width=85),
            "link": st.column_config.LinkColumn("arXiv", width=90, display_text=r"https://arxiv\.org/abs/(.*)"),
            "cosine": st.column_config.NumberColumn(format="%.3f", width=55),
        },
    )


def render(ctx: PageContext) -> None:
    st.title("Inspect text or a paper")
    sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    if "inspect_text" not in st.session_state:
        st.session_state["inspect_text"] = st.query_params.get("text", "")
    text = st.text_area(
        "Text or arXiv id",
        key="inspect_text",
        placeholder="Paste an abstract, type a sentence, or give an arXiv id such as 2401.01234",
    )
    if not text.strip():
        st.query_params.pop("text", None)
        st.caption("Every feature that fires on the text is listed with its value, label, score and page.")
        return
    st.query_params["text"] = text
    try:
        from evals.steering.errors import SteeringError

        search = steerable_search(ctx.path, ctx.version, sae_id)
    except (ImportError, FileNotFoundError, LookupError, ValueError, RuntimeError) as error:
        st.warning(f"Inspecting needs SAE #{sae_id}'s checkpoint and the corpus embeddings: {error}", icon="⚠️")
        return

    match = ARXIV_ID.match(text)
    stored = inspect_queries.paper(ctx.path, ctx.version, match[1]) if match else None
    if match and stored is None:
        st.warning(f"arXiv {match[1]} is not in this warehouse; add it with `just data <corpus> --jsonl F`.")
        return
    if stored is not None:
        st.markdown(f"**[{stored['title']}]({stored['link']})** · {stored['published']} · stored paper")
        with st.expander("Abstract"):
            st.write(stored["abstract"])
        activations = inspect_queries.stored_activations(ctx.path, ctx.version, sae_id, int(stored["doc_id"]))
        rows = np.flatnonzero(search.doc_ids == stored["doc_id"])
        vector = search.index.exact[rows[0]] if len(rows) else None
        source = "its stored activations"
    else:
        try:
            vector = query_vector(ctx.path, ctx.version, sae_id, text)
            active = search.encode(vector)
        except (SteeringError, EmbedderUnavailable) as error:
            st.warning(f"Cannot embed the text for SAE #{sae_id}: {error}", icon="⚠️")
            return
        activations = {int(latent): float(value) for latent, value in zip(active.latents, active.values, strict=False)}
        source = f"the text embedded by {search.embed_model}"

    st.subheader(f"{len(activations)} features fire")
    st.caption(f"From {source}, strongest first; 'of its max' compares the value with the feature's corpus maximum.")
    if activations:
        _features_table(ctx, sae_id, activations)
    if vector is not None:
        st.subheader("Nearest papers")
        _nearest(ctx, search, vector, int(stored["doc_id"]) if stored is not None else None)


run_page(render)
