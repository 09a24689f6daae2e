"""The dashboard's query layer: parameterised SQL over short-lived read-only connections.

Every public function takes the warehouse path and its ``version`` (see ``warehouse_version``) and
is cached on those arguments, so a file that a writer changed is read again while an unchanged
one is served from memory. Connections are opened per call and closed before it returns: a
cached connection would block every writer (DuckDB: one writer process or many readers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import streamlit as st

from data.saes import default_sae_id
from data.warehouse import WarehouseBusy, WarehouseMissing, open_reader

BUSY_WAIT_S = 2.0
"""How long a read waits for a writer before the page shows a 'busy' note instead."""

RUN_METRICS = ("val_fvu", "val_l0", "dead_fraction")
"""The trainer's ``saes.metrics`` keys the Runs page plots (NaN where a run has none)."""

Version = tuple[int, ...]


def warehouse_version(path: str | Path) -> Version:
    """(mtime, size) of the file and of its write-ahead log: changes whenever a writer commits."""
    path = Path(path)
    if not path.exists():
        raise WarehouseMissing(f"no warehouse at {path}")
    stamp = path.stat()
    wal = path.with_name(path.name + ".wal")
    wal_stamp = (wal.stat().st_mtime_ns, wal.stat().st_size) if wal.exists() else (0, 0)
    return (stamp.st_mtime_ns, stamp.st_size, *wal_stamp)


def writer_active(path: str | Path) -> bool:
    """Whether another process holds the file for writing right now (one read-only open, no waiting)."""
    try:
        with open_reader(path, wait_s=0):
            return False
    except WarehouseBusy:
        return True


@contextmanager
def reader(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection (waits up to ``BUSY_WAIT_S`` for a writer).

    One thread: the dashboard's queries are point lookups of a few blocks, and handing them to a
    worker thread costs more than it saves on a busy 2-core machine (measured: 1.4 ms vs 6.8 ms).
    """
    with open_reader(path, wait_s=BUSY_WAIT_S) as con:
        con.execute("SET threads = 1")
        yield con


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | tuple = ()) -> pd.DataFrame:
    return con.execute(sql, list(params)).df()


@dataclass(frozen=True)
class Overview:
    """What the warehouse holds so far (drives the empty states), and every complete run."""

    is_warehouse: bool
    n_docs: int
    n_saes: int
    n_populated_saes: int
    n_interpretations: int
    n_families: int
    n_splits: int
    runs: pd.DataFrame
    """Every complete SAE with config, metrics (``RUN_METRICS``: NaN when absent) and has_latents."""
    default_sae_id: int | None = None
    """The SAE every page opens first (``data.saes.default_sae_id``)."""


@st.cache_data(show_spinner=False, max_entries=32)
def overview(path: str, version: Version) -> Overview:
    """Counts and runs on one connection (the first page needs both)."""
    with reader(path) as con:
        tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if not {"docs", "saes", "latents"} <= tables:
            return Overview(False, 0, 0, 0, 0, 0, 0, pd.DataFrame())
        counts = con.execute(
            """
            SELECT (SELECT count(*) FROM docs),
                   (SELECT count(*) FROM complete_saes),
                   (SELECT count(DISTINCT sae_id) FROM latents),
                   (SELECT count(*) FROM interpretations),
                   (SELECT count(*) FROM families),
                   (SELECT count(*) FROM splits)
            """
        ).fetchall()[0]
        metrics = ", ".join(
            f"coalesce(try_cast(s.metrics->>'{name}' AS DOUBLE), 'NaN') AS {name}" for name in RUN_METRICS
        )
        frame = _frame(
            con,
            f"""
            SELECT s.sae_id, s.name, s.corpus, s.embed_model, s.d, s.n_latents, s.k, s.k_aux,
                   s.config::VARCHAR AS config, s.metrics::VARCHAR AS metrics, {metrics}, s.created_at, s.finished_at,
                   s.sae_id IN (SELECT DISTINCT sae_id FROM latents) AS has_latents
            FROM complete_saes s ORDER BY s.k, s.n_latents, s.sae_id
            """,
        )
        default = default_sae_id(con)
    return Overview(True, *[int(value) for value in counts], runs=frame, default_sae_id=default)


def runs(path: str, version: Version) -> pd.DataFrame:
    """Every complete SAE (see ``Overview.runs``); a copy, so callers may filter it."""
    return overview(path, version).runs.copy()


@dataclass(frozen=True)
class StoredEvaluations:
    """What `just report`, `just fidelity` and `just steer-bench` stored per SAE (read, never recomputed)."""

    reports: dict[int, dict]
    """sae_id -> the quality card (eval_summaries, eval = 'report')."""
    fidelity: pd.DataFrame
    """sae_id, searched ('all' | 'test' | 'sampled' for rows from before the test split), n_queries, recall_at_10, ndcg_at_10, created_at."""
    steering: dict[int, tuple[dict, str]]
    """sae_id -> (the latest steering summary, when it was stored)."""


@st.cache_data(show_spinner=False, max_entries=32)
def stored_evaluations(path: str, version: Version) -> StoredEvaluations:
    with reader(path) as con:
        summaries = con.execute(
            "SELECT sae_id, eval, summary, created_at::VARCHAR FROM eval_summaries WHERE eval IN ('report', 'steering')"
        ).fetchall()
        fidelity = _frame(con, "SELECT * FROM fidelity ORDER BY sae_id")
    if "searched" not in fidelity.columns:  # a warehouse not yet migrated by a writer: its rows predate the split
        fidelity["searched"] = "sampled"
    reports = {sae_id: json.loads(summary) for sae_id, kind, summary, _ in summaries if kind == "report"}
    steering = {sae_id: (json.loads(summary), when) for sae_id, kind, summary, when in summaries if kind == "steering"}
    columns = ["sae_id", "searched", "n_queries", "recall_at_10", "ndcg_at_10", "created_at"]
    return StoredEvaluations(reports, fidelity[columns], steering)


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
        return _frame(
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
                SELECT m.latent, string_agg(coalesce(f.label, '#' || f.family_id::VARCHAR), '; ' ORDER BY m.family_id) AS families,
                       list(m.family_id ORDER BY m.family_id) AS family_ids
                FROM family_members m JOIN families f USING (sae_id, family_id)
                WHERE m.sae_id = ? GROUP BY m.latent
            ) fm ON fm.latent = l.latent
            WHERE l.sae_id = ?
            ORDER BY l.latent
            """,
            [explainer, sae_id, sae_id],
        )


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
        stats = _frame(con, "SELECT * FROM latents WHERE sae_id = ? ORDER BY latent", [sae_id])
        interpretations = _frame(
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
        neighbors = _frame(
            con,
            "SELECT latent, kind, rank, neighbor, cosine FROM latent_neighbors WHERE sae_id = ? ORDER BY latent, kind, rank",
            [sae_id],
        )
        cooccurrence = _frame(
            con,
            "SELECT latent, other, count, weight FROM cooccurrence WHERE sae_id = ? ORDER BY latent, weight DESC, count DESC",
            [sae_id],
        )
        families = _frame(
            con,
            """
            SELECT m.latent, f.family_id, f.label, f.root_latent, m.depth, m.parent_latent, f.n_children,
                   f.pearson, f.f1, f.auroc
            FROM family_members m JOIN families f USING (sae_id, family_id)
            WHERE m.sae_id = ? ORDER BY m.latent, f.family_id
            """,
            [sae_id],
        )
        parents = _frame(
            con,
            """
            SELECT s.large_latent AS here, s.small_sae_id AS sae_id, sa.n_latents, s.small_latent AS latent, s.cosine, lab.label
            FROM splits s JOIN saes sa ON sa.sae_id = s.small_sae_id
            LEFT JOIN best_labels lab ON lab.sae_id = s.small_sae_id AND lab.latent = s.small_latent
            WHERE s.large_sae_id = ? ORDER BY here, sa.n_latents
            """,
            [sae_id],
        )
        children = _frame(
            con,
            """
            SELECT s.small_latent AS here, s.large_sae_id AS sae_id, sa.n_latents, s.large_latent AS latent, s.cosine, lab.label
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
        near_misses = _frame(
            con,
            """
            SELECT any_value(e.prediction) AS rating, d.title, 'https://arxiv.org/abs/' || d.arxiv_id AS link,
                   d.abstract, min(e.role) AS role
            FROM interp_examples e JOIN docs d USING (doc_id)
            WHERE e.sae_id = ? AND e.latent = ? AND e.role IN ('score_neg_hard', 'explain_neg_hard', 'explain_extra_neg_hard')
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
    for band, ranks in enumerate(np.array_split(np.arange(per_band, len(doc_ids)), quantiles), start=1):
        picks += [
            (f"quantile {band}/{quantiles}", int(r))
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
    docs = _frame(
        con,
        """
        SELECT doc_id, title, published, arxiv_id, 'https://arxiv.org/abs/' || arxiv_id AS link, abstract
        FROM docs WHERE doc_id IN (SELECT unnest(?::INTEGER[]))
        """,
        [[int(x) for x in doc_ids]],
    )
    ranked = pd.DataFrame({"doc_id": doc_ids.astype(np.int64), "activation": values})
    return ranked.merge(docs, on="doc_id", how="inner").drop(columns="doc_id")


def _labels(con: duckdb.DuckDBPyConnection, sae_id: int, latents: list[int]) -> dict[int, str]:
    """The best label (``best_labels``) of each of ``latents``."""
    if not latents:
        return {}
    rows = con.execute(
        "SELECT latent, label FROM best_labels WHERE sae_id = ? AND latent IN (SELECT unnest(?::INTEGER[]))",
        [sae_id, latents],
    ).fetchall()
    return {int(latent): label for latent, label in rows}


def _cooccurring_from_activations(
    con: duckdb.DuckDBPyConnection, sae_id: int, latent: int, top: int = 10
) -> pd.DataFrame:
    """Top co-occurring latents counted from activations (when the families pipeline has not stored any).

    The weight is P(j | i) for the rarer of the two, as the paper normalises co-occurrence.
    """
    return _frame(
        con,
        """
        WITH mine AS (SELECT doc_id FROM activations WHERE sae_id = ? AND latent = ?),
             pairs AS (SELECT a.latent, count(*) AS count FROM activations a JOIN mine USING (doc_id)
                       WHERE a.sae_id = ? AND a.latent <> ? GROUP BY a.latent)
        SELECT p.latent, p.count,
               p.count / greatest(least((SELECT count(*) FROM mine), l.density * (SELECT count(*) FROM docs)), 1) AS weight
        FROM pairs p JOIN latents l ON l.sae_id = ? AND l.latent = p.latent
        ORDER BY weight DESC, p.count DESC LIMIT ?
        """,
        [sae_id, latent, sae_id, latent, sae_id, top],
    )


@st.cache_data(show_spinner=False, max_entries=32)
def families(path: str, version: Version, sae_id: int) -> pd.DataFrame:
    """Every family of an SAE with its size and root."""
    with reader(path) as con:
        return _frame(
            con,
            """
            SELECT f.family_id, coalesce(f.label, lab.label, '#' || f.family_id::VARCHAR) AS label,
                   f.root_latent, lab.label AS root_label, f.pass, f.n_children,
                   (SELECT count(*) FROM family_members m WHERE m.sae_id = f.sae_id AND m.family_id = f.family_id) AS size,
                   f.cooccurrence_lift, f.coherence, f.is_proxy, f.pearson, f.f1, f.auroc, coalesce(f.clean, false) AS clean
            FROM families f LEFT JOIN best_labels lab ON lab.sae_id = f.sae_id AND lab.latent = f.root_latent
            WHERE f.sae_id = ? ORDER BY size DESC, f.family_id
            """,
            [sae_id],
        )


@st.cache_data(show_spinner=False, max_entries=32)
def family_members(path: str, version: Version, sae_id: int) -> pd.DataFrame:
    """Every (family, member) pair with the member's label and density (the tree's nodes)."""
    with reader(path) as con:
        return _frame(
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
        return _frame(
            con,
            """
            WITH members AS (SELECT DISTINCT latent FROM family_members WHERE sae_id = ? AND family_id = ?),
                 acts AS (SELECT doc_id, latent FROM activations WHERE sae_id = ? AND latent IN (SELECT latent FROM members)),
                 occurrences AS (SELECT latent, count(*) AS n FROM acts GROUP BY latent)
            SELECT x.latent AS latent, y.latent AS other, count(*) AS count, count(*) / any_value(o.n) AS p_other_given_latent
            FROM acts x JOIN acts y USING (doc_id) JOIN occurrences o ON o.latent = x.latent
            GROUP BY x.latent, y.latent ORDER BY x.latent, y.latent
            """,
            [sae_id, family_id, sae_id],
        )


@st.cache_data(show_spinner=False, max_entries=64)
def label_search(path: str, version: Version, sae_id: int, text: str, limit: int = 20) -> pd.DataFrame:
    """Latents whose best label contains ``text`` (case-insensitive), densest first."""
    with reader(path) as con:
        return _frame(
            con,
            """
            SELECT lab.latent, lab.label, l.density
            FROM best_labels lab JOIN latents l ON l.sae_id = lab.sae_id AND l.latent = lab.latent
            WHERE lab.sae_id = ? AND lab.label ILIKE '%' || ? || '%' ORDER BY l.density DESC LIMIT ?
            """,
            [sae_id, text, limit],
        )


@st.cache_data(show_spinner=False, max_entries=64)
def labels_of(path: str, version: Version, sae_id: int, latents: tuple[int, ...]) -> dict[int, str]:
    """Best label of each of ``latents`` (missing ones are absent)."""
    with reader(path) as con:
        return _labels(con, sae_id, list(latents))


class RejectedQuery(ValueError):
    """A statement the SQL page refuses to run (anything but one SELECT)."""


def run_select(path: str | Path, sql: str, row_limit: int) -> tuple[pd.DataFrame, bool]:
    """Run one user SELECT on a read-only connection with file access disabled; at most ``row_limit`` rows.

    Returns the rows and whether more existed. Not cached: ad-hoc queries are cheap to rerun.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise RejectedQuery(f"could not parse the query: {error}") from error
    if len(statements) != 1:
        raise RejectedQuery(f"enter exactly one statement (got {len(statements)})")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise RejectedQuery(
            f"only SELECT queries run here (got {kind.name}); the warehouse is opened read-only "
            "and the dashboard never writes to it"
        )
    with reader(path) as con:
        # A SELECT could still read or write other files (read_csv, COPY-like table functions).
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        frame = con.sql(statements[0].query).limit(row_limit + 1).df()
    return frame.head(row_limit), len(frame) > row_limit


@st.cache_data(show_spinner=False, max_entries=128)
def docs_by_id(path: str, version: Version, doc_ids: tuple[int, ...]) -> pd.DataFrame:
    """Title, date and arXiv link of ``doc_ids``, in the given order."""
    with reader(path) as con:
        frame = _frame(
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
        return _frame(
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
        return _frame(
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
        return _frame(
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
        return _frame(
            con,
            "SELECT month, n_docs, eligible, excluded, period FROM trend_months WHERE sae_id = ? ORDER BY month",
            [sae_id],
        )


@st.cache_data(show_spinner=False, max_entries=64)
def period_examples(path: str, version: Version, sae_id: int, latent: int, start, stop, n: int = 3) -> pd.DataFrame:
    """The feature's most strongly activating documents published in [start, stop)."""
    with reader(path) as con:
        return _frame(
            con,
            """
            SELECT a.value AS activation, d.published, d.title, 'https://arxiv.org/abs/' || d.arxiv_id AS link, d.abstract
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
        return _frame(con, "SELECT * FROM contrasts WHERE sae_id = ? ORDER BY created_at DESC", [sae_id])


@st.cache_data(show_spinner=False, max_entries=64)
def contrast_features(path: str, version: Version, sae_id: int, target: str, method: str) -> pd.DataFrame:
    """The features one contrast selected, in rank order, with their best labels."""
    with reader(path) as con:
        return _frame(
            con,
            """
            SELECT c.rank, c.latent, lab.label, c.train_score, c.n_with, c.mean_with, c.mean_without, c.effect, c.p_value, c.q_value
            FROM contrast_features c LEFT JOIN best_labels lab ON lab.sae_id = c.sae_id AND lab.latent = c.latent
            WHERE c.sae_id = ? AND c.target = ? AND c.method = ? ORDER BY c.rank
            """,
            [sae_id, target, method],
        )


@st.cache_data(show_spinner=False, max_entries=64)
def common_features(
    path: str, version: Version, sae_id: int, doc_ids: tuple[int, ...], limit: int = 12
) -> pd.DataFrame:
    """The latents active in most of ``doc_ids`` (e.g. a query's top 100), with how many of them each fires in."""
    if not doc_ids:
        return pd.DataFrame(columns=["latent", "n_docs"])
    with reader(path) as con:
        return _frame(
            con,
            "SELECT latent, count(*) AS n_docs FROM activations WHERE sae_id = ? AND list_contains(?, doc_id) "
            "GROUP BY latent ORDER BY n_docs DESC, latent LIMIT ?",
            [sae_id, list(doc_ids), limit],
        )
