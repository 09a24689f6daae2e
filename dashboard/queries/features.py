"""The Features table and small lookups by latent: labels, explainers, label search, common features."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import streamlit as st

from dashboard.queries.core import Version, read_frame, reader


@st.cache_data(show_spinner=False, max_entries=32)
def explainers(path: str, version: Version, sae_id: int) -> list[str]:
    """Explainers that labelled this SAE, LLM ones first."""
    with reader(path) as con:
        rows = con.execute(
            "SELECT explainer FROM interpretations WHERE sae_id = ? GROUP BY explainer "
            "ORDER BY bool_and(is_proxy), count(*) DESC, explainer",
            [sae_id],
        ).fetchall()
    return [row[0] for row in rows]


def label_pattern(text: str) -> str:
    """The regular expression of a label search: ``%`` matches any characters, all else is literal.

    One meaning everywhere (the Features table in pandas, the feature search in DuckDB, both
    case-insensitive), so ``dark % halo`` finds the same labels on every page.
    """
    return ".*".join(re.escape(part) for part in text.split("%"))


NO_CONCEPT = "(no clear concept)"
"""The offline explainer's honest answer for a feature without a clear phrase (evals.interp.phrase_labels)."""


def weak_label_sql(alias: str) -> str:
    """SQL: the label scores at or below its other-label baseline (mean AUROC against random and hard
    negatives; the combined AUROC for rows scored before they were apart)."""
    a = alias
    return (
        f"coalesce(({a}.auroc_random + {a}.auroc_hard) / 2 <= ({a}.random_auroc_random + {a}.random_auroc_hard) / 2, "
        f"{a}.auroc <= {a}.random_auroc, false)"
    )


@st.cache_data(show_spinner=False, max_entries=16)
def feature_table(path: str, version: Version, sae_id: int, explainer: str | None) -> pd.DataFrame:
    """One row per latent: statistics, the label and scores of ``explainer``, clean flag, families."""
    with reader(path) as con:
        return read_frame(
            con,
            f"""
            SELECT l.latent, i.label, l.density, l.mean_act, l.max_act,
                   i.pearson, i.f1, i.auroc, i.balanced_accuracy,
                   i.random_pearson, i.random_f1, i.random_auroc, i.random_balanced_accuracy,
                   i.auroc_random, i.auroc_hard, i.random_auroc_random, i.random_auroc_hard, i.duplicate_of,
                   {weak_label_sql("i")} AS weak, coalesce(i.clean, false) AS clean,
                   fm.families, fm.family_ids
            FROM latents l
            LEFT JOIN interpretations i ON i.sae_id = l.sae_id AND i.latent = l.latent AND i.explainer = ?
            LEFT JOIN (
                SELECT m.latent, string_agg(coalesce(f.label, '#' || f.family_id::VARCHAR),
                    '; ' ORDER BY m.family_id) AS families,
                       list(m.family_id ORDER BY m.family_id) AS family_ids
                FROM family_members m JOIN families f USING (sae_id, family_id)
                WHERE m.sae_id = ? GROUP BY m.latent
            ) fm ON fm.latent = l.latent
            WHERE l.sae_id = ?
            ORDER BY l.latent
            """,
            [explainer, sae_id, sae_id],
        )


def _labels(con: duckdb.DuckDBPyConnection, sae_id: int, latents: list[int]) -> dict[int, str]:
    """The best label (``best_labels``) of each of ``latents``."""
    if not latents:
        return {}
    rows = con.execute(
        "SELECT latent, label FROM best_labels WHERE sae_id = ? AND latent IN (SELECT unnest(?::INTEGER[]))",
        [sae_id, latents],
    ).fetchall()
    return {int(latent): label for latent, label in rows}


@st.cache_data(show_spinner=False, max_entries=64)
def label_search(path: str, version: Version, sae_id: int, text: str, limit: int = 20) -> pd.DataFrame:
    """Latents whose best label matches ``text`` (``label_pattern``: case-insensitive, ``%`` any characters),
    densest first."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            SELECT lab.latent, lab.label, l.density
            FROM best_labels lab JOIN latents l ON l.sae_id = lab.sae_id AND l.latent = lab.latent
            WHERE lab.sae_id = ? AND regexp_matches(lab.label, ?, 'i') ORDER BY l.density DESC LIMIT ?
            """,
            [sae_id, label_pattern(text), limit],
        )


@st.cache_data(show_spinner=False, max_entries=64)
def labels_of(path: str, version: Version, sae_id: int, latents: tuple[int, ...]) -> dict[int, str]:
    """Best label of each of ``latents`` (missing ones are absent)."""
    with reader(path) as con:
        return _labels(con, sae_id, list(latents))


@st.cache_data(show_spinner=False, max_entries=64)
def common_features(
    path: str, version: Version, sae_id: int, doc_ids: tuple[int, ...], limit: int = 12
) -> pd.DataFrame:
    """The latents active in most of ``doc_ids`` (e.g. a query's top 100), with how many of them each fires in."""
    if not doc_ids:
        return pd.DataFrame(columns=["latent", "n_docs"])
    with reader(path) as con:
        return read_frame(
            con,
            "SELECT latent, count(*) AS n_docs FROM activations WHERE sae_id = ? AND list_contains(?, doc_id) "
            "GROUP BY latent ORDER BY n_docs DESC, latent LIMIT ?",
            [sae_id, list(doc_ids), limit],
        )
