"""Families: every family of an SAE, its members (the tree's nodes) and their co-occurrence."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.queries.core import Version, read_frame, reader
from dashboard.queries.features import NO_CONCEPT


@st.cache_data(show_spinner=False, max_entries=32)
def families(path: str, version: Version, sae_id: int) -> pd.DataFrame:
    """Every family of an SAE with its size and root: named families first (the page opens on the first),
    each group largest first."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            SELECT * FROM (
                SELECT f.family_id, coalesce(f.label, lab.label, '#' || f.family_id::VARCHAR) AS label,
                       f.root_latent, lab.label AS root_label, f.pass, f.n_children,
                       (SELECT count(*) FROM family_members m WHERE m.sae_id = f.sae_id AND
                           m.family_id = f.family_id) AS size,
                       f.cooccurrence_lift, f.coherence, f.is_proxy, f.pearson, f.f1, f.auroc, coalesce(f.clean,
                           false) AS clean
                FROM families f LEFT JOIN best_labels lab ON lab.sae_id = f.sae_id AND lab.latent = f.root_latent
                WHERE f.sae_id = ?
            ) ORDER BY label = ? OR label LIKE '#%', size DESC, family_id
            """,
            [sae_id, NO_CONCEPT],
        )


@st.cache_data(show_spinner=False, max_entries=32)
def family_members(path: str, version: Version, sae_id: int) -> pd.DataFrame:
    """Every (family, member) pair with the member's label and density (the tree's nodes)."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            SELECT m.family_id, m.latent, m.parent_latent, m.depth, l.density, lab.label
            FROM family_members m
            LEFT JOIN latents l ON l.sae_id = m.sae_id AND l.latent = m.latent
            LEFT JOIN best_labels lab ON lab.sae_id = m.sae_id AND lab.latent = m.latent
            WHERE m.sae_id = ? ORDER BY m.family_id, m.depth, m.latent
            """,
            [sae_id],
        )


@st.cache_data(show_spinner=False, max_entries=64)
def family_cooccurrence(path: str, version: Version, sae_id: int, family_id: int) -> pd.DataFrame:
    """Exact pairwise co-occurrence among a family's members: count and P(j | i) = count / occurrences of i."""
    with reader(path) as con:
        return read_frame(
            con,
            """
            WITH members AS (SELECT DISTINCT latent FROM family_members WHERE sae_id = ? AND family_id = ?),
                 acts AS (SELECT doc_id, latent FROM activations WHERE sae_id = ? AND latent IN
                     (SELECT latent FROM members)),
                 occurrences AS (SELECT latent, count(*) AS n FROM acts GROUP BY latent)
            SELECT x.latent AS latent, y.latent AS other, count(*) AS count,
                count(*) / any_value(o.n) AS p_other_given_latent
            FROM acts x JOIN acts y USING (doc_id) JOIN occurrences o ON o.latent = x.latent
            GROUP BY x.latent, y.latent ORDER BY x.latent, y.latent
            """,
            [sae_id, family_id, sae_id],
        )
