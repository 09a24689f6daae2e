"""Reads of the Inspect page: a stored paper by arXiv id, its stored features, and labels with scores."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.queries.core import Version, reader


@st.cache_data(show_spinner=False, max_entries=64)
def paper(path: str, version: Version, arxiv_id: str) -> dict | None:
    """The stored paper with this arXiv id (a version suffix such as ``v2`` is ignored), or None."""
    with reader(path) as con:
        rows = con.execute(
            """
            SELECT doc_id, arxiv_id, title, abstract, published, 'https://arxiv.org/abs/' || arxiv_id AS link
            FROM docs WHERE arxiv_id = regexp_replace(?, 'v[0-9]+$', '')
            """,
            [arxiv_id.strip()],
        ).fetchall()
    if not rows:
        return None
    return dict(zip(("doc_id", "arxiv_id", "title", "abstract", "published", "link"), rows[0], strict=True))


@st.cache_data(show_spinner=False, max_entries=64)
def stored_activations(path: str, version: Version, sae_id: int, doc_id: int) -> dict[int, float]:
    """{latent: value} of one stored document under one SAE (what training wrote to ``activations``)."""
    with reader(path) as con:
        rows = con.execute(
            "SELECT latent, value FROM activations WHERE sae_id = ? AND doc_id = ? ORDER BY value DESC",
            [sae_id, doc_id],
        ).fetchall()
    return {int(latent): float(value) for latent, value in rows}


@st.cache_data(show_spinner=False, max_entries=64)
def feature_rows(path: str, version: Version, sae_id: int, latents: tuple[int, ...]) -> pd.DataFrame:
    """latent, label, score (held-out AUROC of the best label), max_act and density of ``latents``."""
    with reader(path) as con:
        return con.execute(
            """
            SELECT l.latent, b.label, b.auroc AS score, l.max_act, l.density
            FROM latents l LEFT JOIN best_labels b ON b.sae_id = l.sae_id AND b.latent = l.latent
            WHERE l.sae_id = ? AND list_contains(?, l.latent)
            """,
            [sae_id, list(latents)],
        ).df()
