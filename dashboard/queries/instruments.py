"""Research instruments: documents by id, monthly prevalence, stored trends and contrasts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.queries.core import Version, read_frame, reader


@st.cache_data(show_spinner=False, max_entries=128)
def docs_by_id(path: str, version: Version, doc_ids: tuple[int, ...]) -> pd.DataFrame:
    """Title, date and arXiv link of ``doc_ids``, in the given order."""
    with reader(path) as con:
        frame = read_frame(
            con,
            """
            SELECT d.doc_id, d.title, d.published, 'https://arxiv.org/abs/' || d.arxiv_id AS link
            FROM docs d WHERE list_contains(?, d.doc_id)
            """,
            [list(doc_ids)],
        )
    order = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    return frame.sort_values("doc_id", key=lambda column: column.map(order)).reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=16)
def monthly_documents(path: str, version: Version, sae_id: int) -> pd.DataFrame:
    """Documents per calendar month among those the SAE encoded (the denominator of every prevalence)."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            SELECT date_trunc('month', published)::DATE AS month, count(*) AS n_docs FROM docs
            WHERE published IS NOT NULL AND doc_id IN (SELECT DISTINCT doc_id FROM activations WHERE sae_id = ?)
            GROUP BY month ORDER BY month
            """,
            [sae_id],
        )


@st.cache_data(show_spinner=False, max_entries=256)
def monthly_active(path: str, version: Version, sae_id: int, latents: tuple[int, ...]) -> pd.DataFrame:
    """Documents per month in which each of ``latents`` is active: (latent, month, n_active)."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            SELECT a.latent, date_trunc('month', d.published)::DATE AS month, count(*) AS n_active
            FROM activations a JOIN docs d USING (doc_id)
            WHERE a.sae_id = ? AND a.latent IN (SELECT unnest(?::INTEGER[])) AND d.published IS NOT NULL
            GROUP BY a.latent, month ORDER BY a.latent, month
            """,
            [sae_id, list(latents)],
        )


@st.cache_data(show_spinner=False, max_entries=16)
def trends(path: str, version: Version, sae_id: int) -> pd.DataFrame:
    """The stored trend of every latent (``just trends``) with its best label; empty before a run."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            SELECT t.latent, lab.label, t.direction, t.ratio, t.q_value, t.p_value, t.z, t.dispersion, t.active_docs,
                   t.recent_prevalence, t.previous_prevalence
            FROM trends t LEFT JOIN best_labels lab ON lab.sae_id = t.sae_id AND lab.latent = t.latent
            WHERE t.sae_id = ? ORDER BY t.p_value NULLS LAST, t.latent
            """,
            [sae_id],
        )


@st.cache_data(show_spinner=False, max_entries=16)
def trend_months(path: str, version: Version, sae_id: int) -> pd.DataFrame:
    """The months of the SAE's trends run: documents, whether tested (else why not), effect-size period."""
    with reader(path) as con:
        return read_frame(
            con,
            "SELECT month, n_docs, eligible, excluded, period FROM trend_months WHERE sae_id = ? ORDER BY month",
            [sae_id],
        )


@st.cache_data(show_spinner=False, max_entries=64)
def period_examples(path: str, version: Version, sae_id: int, latent: int, start, stop, n: int = 3) -> pd.DataFrame:
    """The feature's most strongly activating documents published in [start, stop)."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            SELECT a.value AS activation, d.published, d.title, 'https://arxiv.org/abs/' || d.arxiv_id AS link,
                d.abstract
            FROM activations a JOIN docs d USING (doc_id)
            WHERE a.sae_id = ? AND a.latent = ? AND d.published >= ? AND d.published < ?
            ORDER BY a.value DESC LIMIT ?
            """,
            [sae_id, latent, start, stop, n],
        )


@st.cache_data(show_spinner=False, max_entries=16)
def contrasts(path: str, version: Version, sae_id: int) -> pd.DataFrame:
    """Every stored contrast of the SAE (``just contrast``), newest first."""
    with reader(path) as con:
        return read_frame(con, "SELECT * FROM contrasts WHERE sae_id = ? ORDER BY created_at DESC", [sae_id])


@st.cache_data(show_spinner=False, max_entries=64)
def contrast_features(path: str, version: Version, sae_id: int, target: str, method: str) -> pd.DataFrame:
    """The features one contrast selected, in rank order, with their best labels."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            SELECT c.rank, c.latent, lab.label, c.train_score, c.n_with, c.mean_with, c.mean_without, c.effect,
                c.p_value, c.q_value
            FROM contrast_features c LEFT JOIN best_labels lab ON lab.sae_id = c.sae_id AND lab.latent = c.latent
            WHERE c.sae_id = ? AND c.target = ? AND c.method = ? ORDER BY c.rank
            """,
            [sae_id, target, method],
        )
