"""Everything the feature page shows for one latent: per-SAE tables in memory, activations from disk."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import streamlit as st

from dashboard.queries.core import Version, read_frame, reader
from dashboard.queries.features import weak_label_sql


@dataclass(frozen=True)
class FeatureDetail:
    """Everything the feature page shows for one latent (each part may be empty)."""

    stats: pd.DataFrame
    interpretations: pd.DataFrame
    top_docs: pd.DataFrame
    activation_values: np.ndarray
    nearest: pd.DataFrame
    farthest: pd.DataFrame
    cooccurring: pd.DataFrame
    cooccurrence_source: str
    families: pd.DataFrame
    split_parents: pd.DataFrame
    split_children: pd.DataFrame
    range_docs: pd.DataFrame
    """Abstracts across the activation range: the top, each activation quantile, random activating ones."""
    near_misses: pd.DataFrame
    """Non-activating abstracts nearest the feature's (interpretation's hard negatives), with the label's rating."""


@dataclass(frozen=True)
class SaeTables:
    """One SAE's small per-latent tables, held in memory (a few MB at n = 9216) and sorted by latent.

    The feature page then reads only the feature's own activations from disk: every query on a
    fresh read-only connection starts with a cold buffer pool, so fewer queries is what makes it fast.
    """

    stats: pd.DataFrame
    interpretations: pd.DataFrame
    labels: dict[int, str]
    neighbors: pd.DataFrame
    cooccurrence: pd.DataFrame
    families: pd.DataFrame
    split_parents: pd.DataFrame
    split_children: pd.DataFrame


@st.cache_resource(show_spinner="Loading the SAE's feature tables…", max_entries=4)
def sae_tables(path: str, version: Version, sae_id: int) -> SaeTables:
    """Load ``SaeTables`` once per (file version, SAE); shared read-only by every session (never mutated)."""
    with reader(path) as con:
        stats = read_frame(con, "SELECT * FROM latents WHERE sae_id = ? ORDER BY latent", [sae_id])
        interpretations = read_frame(
            con,
            f"""
            SELECT latent, explainer, predictor, is_proxy, label, reasoning, pearson, f1, auroc, balanced_accuracy,
                   random_pearson, random_f1, random_auroc, random_balanced_accuracy, auroc_random, auroc_hard,
                   random_auroc_random, random_auroc_hard, duplicate_of, {weak_label_sql("interpretations")} AS weak,
                   n_scored, parse_failures, status, created_at
            FROM interpretations WHERE sae_id = ? ORDER BY latent, is_proxy, pearson DESC NULLS LAST
            """,
            [sae_id],
        )
        best = con.execute("SELECT latent, label FROM best_labels WHERE sae_id = ?", [sae_id]).fetchall()
        labels = {int(latent): label for latent, label in best}
        neighbors = read_frame(
            con,
            "SELECT latent, kind, rank, neighbor, cosine FROM latent_neighbors WHERE sae_id = ? ORDER BY latent, "
            "kind, rank",
            [sae_id],
        )
        cooccurrence = read_frame(
            con,
            "SELECT latent, other, count, weight FROM cooccurrence WHERE sae_id = ? ORDER BY latent, weight "
            "DESC, count DESC",
            [sae_id],
        )
        families = read_frame(
            con,
            """
            SELECT m.latent, f.family_id, f.label, f.root_latent, m.depth, m.parent_latent, f.n_children,
                   f.pearson, f.f1, f.auroc
            FROM family_members m JOIN families f USING (sae_id, family_id)
            WHERE m.sae_id = ? ORDER BY m.latent, f.family_id
            """,
            [sae_id],
        )
        parents = read_frame(
            con,
            """
            SELECT s.large_latent AS here, s.small_sae_id AS sae_id, sa.n_latents, s.small_latent AS latent,
                s.cosine, lab.label
            FROM splits s JOIN saes sa ON sa.sae_id = s.small_sae_id
            LEFT JOIN best_labels lab ON lab.sae_id = s.small_sae_id AND lab.latent = s.small_latent
            WHERE s.large_sae_id = ? ORDER BY here, sa.n_latents
            """,
            [sae_id],
        )
        children = read_frame(
            con,
            """
            SELECT s.small_latent AS here, s.large_sae_id AS sae_id, sa.n_latents, s.large_latent AS latent,
                s.cosine, lab.label
            FROM splits s JOIN saes sa ON sa.sae_id = s.large_sae_id
            LEFT JOIN best_labels lab ON lab.sae_id = s.large_sae_id AND lab.latent = s.large_latent
            WHERE s.small_sae_id = ? ORDER BY here, sa.n_latents, s.cosine DESC
            """,
            [sae_id],
        )
    return SaeTables(stats, interpretations, labels, neighbors, cooccurrence, families, parents, children)


def _rows_of(frame: pd.DataFrame, latent: int, column: str = "latent") -> pd.DataFrame:
    """The rows of a frame sorted by ``column`` whose value is ``latent`` (binary search, a copy)."""
    keys = frame[column].to_numpy()
    start, stop = np.searchsorted(keys, latent, "left"), np.searchsorted(keys, latent, "right")
    return frame.iloc[start:stop].drop(columns=column).reset_index(drop=True)


def _with_labels(frame: pd.DataFrame, column: str, labels: dict[int, str]) -> pd.DataFrame:
    return frame.assign(label=[labels.get(int(x)) for x in frame[column]])


@st.cache_data(show_spinner=False, max_entries=256)
def feature_detail(path: str, version: Version, sae_id: int, latent: int, n_top: int = 10) -> FeatureDetail:
    """Everything the feature page shows: per-latent tables from memory, activations and documents from disk."""
    tables = sae_tables(path, version, sae_id)
    with reader(path) as con:
        values = con.execute(
            "SELECT doc_id, value FROM activations WHERE sae_id = ? AND latent = ? ORDER BY value DESC",
            [sae_id, latent],
        ).fetchnumpy()
        top_docs = _top_docs(con, values["doc_id"][:n_top], values["value"][:n_top])
        range_docs = _range_docs(con, values["doc_id"], values["value"], latent)
        near_misses = read_frame(
            con,
            """
            SELECT any_value(e.prediction) AS rating, d.title, 'https://arxiv.org/abs/' || d.arxiv_id AS link,
                   d.abstract, min(e.role) AS role
            FROM interp_examples e JOIN docs d USING (doc_id)
            WHERE e.sae_id = ? AND e.latent = ? AND e.role IN ('score_neg_hard', 'explain_neg_hard',
                'explain_extra_neg_hard')
            GROUP BY d.doc_id, d.title, d.arxiv_id, d.abstract ORDER BY role DESC, d.doc_id LIMIT 10
            """,
            [sae_id, latent],
        )
        if tables.cooccurrence.empty:
            cooccurring, source = _cooccurring_from_activations(con, sae_id, latent), "computed from activations"
        else:
            cooccurring = _rows_of(tables.cooccurrence, latent).head(10).rename(columns={"other": "latent"})
            source = "cooccurrence table"
    neighbors = _rows_of(tables.neighbors, latent).rename(columns={"neighbor": "latent"})
    neighbors = _with_labels(neighbors, "latent", tables.labels)
    return FeatureDetail(
        stats=_rows_of(tables.stats, latent, "latent").assign(latent=latent),
        interpretations=_rows_of(tables.interpretations, latent),
        top_docs=top_docs,
        activation_values=values["value"],
        nearest=neighbors[neighbors["kind"] == "nearest"].drop(columns="kind").reset_index(drop=True),
        farthest=neighbors[neighbors["kind"] == "farthest"].drop(columns="kind").reset_index(drop=True),
        cooccurring=_with_labels(cooccurring, "latent", tables.labels),
        cooccurrence_source=source,
        families=_rows_of(tables.families, latent),
        split_parents=_rows_of(tables.split_parents, latent, "here"),
        split_children=_rows_of(tables.split_children, latent, "here"),
        range_docs=range_docs,
        near_misses=near_misses,
    )


def _range_docs(
    con: duckdb.DuckDBPyConnection,
    doc_ids: np.ndarray,
    values: np.ndarray,
    latent: int,
    quantiles: int = 4,
    per_band: int = 2,
    random: int = 3,
) -> pd.DataFrame:
    """A few abstracts from every part of the activation range (``values`` sorted, strongest first):
    the top, each quantile below it, and random activating ones (seeded by the latent)."""
    if not len(doc_ids):
        return _top_docs(con, doc_ids, values).assign(band=[])
    picks: list[tuple[str, int]] = [("top", i) for i in range(min(per_band, len(doc_ids)))]
    for quantile, ranks in enumerate(np.array_split(np.arange(per_band, len(doc_ids)), quantiles), start=1):
        picks += [
            (f"quantile {quantile}/{quantiles}", int(r))
            for r in ranks[np.linspace(0, len(ranks) - 1, per_band).astype(int)]
            if len(ranks)
        ]
    rng = np.random.default_rng(latent)
    picks += [("random activating", int(r)) for r in rng.choice(len(doc_ids), min(random, len(doc_ids)), replace=False)]
    seen: dict[int, str] = {}
    for band, rank in picks:
        seen.setdefault(rank, band)
    ranks = np.array(sorted(seen), dtype=np.int64)
    frame = _top_docs(con, doc_ids[ranks], values[ranks])
    return frame.assign(band=[seen[int(r)] for r in ranks][: len(frame)])


def _top_docs(con: duckdb.DuckDBPyConnection, doc_ids: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Title, date and arXiv link of the top documents (a lookup by id: docs is sorted by doc_id)."""
    docs = read_frame(
        con,
        """
        SELECT doc_id, title, published, arxiv_id, 'https://arxiv.org/abs/' || arxiv_id AS link, abstract
        FROM docs WHERE doc_id IN (SELECT unnest(?::INTEGER[]))
        """,
        [[int(x) for x in doc_ids]],
    )
    ranked = pd.DataFrame({"doc_id": doc_ids.astype(np.int64), "activation": values})
    return ranked.merge(docs, on="doc_id", how="inner").drop(columns="doc_id")


def _cooccurring_from_activations(
    con: duckdb.DuckDBPyConnection, sae_id: int, latent: int, top: int = 10
) -> pd.DataFrame:
    """Top co-occurring latents counted from activations (when the families pipeline has not stored any).

    The weight is P(j | i) for the rarer of the two, as the paper normalises co-occurrence.
    """
    return read_frame(
        con,
        """
        WITH mine AS (SELECT doc_id FROM activations WHERE sae_id = ? AND latent = ?),
             pairs AS (SELECT a.latent, count(*) AS count FROM activations a JOIN mine USING (doc_id)
                       WHERE a.sae_id = ? AND a.latent <> ? GROUP BY a.latent)
        SELECT p.latent, p.count,
               p.count / greatest(least((SELECT count(*) FROM mine), l.density * (SELECT count(*) FROM docs)),
                   1) AS weight
        FROM pairs p JOIN latents l ON l.sae_id = ? AND l.latent = p.latent
        ORDER BY weight DESC, p.count DESC LIMIT ?
        """,
        [sae_id, latent, sae_id, latent, sae_id, top],
    )
