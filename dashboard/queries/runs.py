"""The warehouse overview (counts, every complete run) and the stored evaluations of each SAE."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashboard.queries.core import Version, read_frame, reader
from data.saes import SaePurpose, default_sae_id

RUN_METRICS = ("val_fvu", "val_l0", "dead_fraction")
"""The trainer's ``saes.metrics`` keys the Runs page plots (NaN where a run has none)."""


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
        frame = read_frame(
            con,
            f"""
            SELECT s.sae_id, s.name, s.corpus, s.embed_model, s.d, s.n_latents, s.k, s.k_aux,
                   coalesce(s.config->>'purpose', ?) AS purpose,
                   s.config::VARCHAR AS config, s.metrics::VARCHAR AS metrics, {metrics}, s.created_at, s.finished_at,
                   s.sae_id IN (SELECT DISTINCT sae_id FROM latents) AS has_latents
            FROM complete_saes s ORDER BY s.k, s.n_latents, s.sae_id
            """,
            [SaePurpose.RECONSTRUCTION.value],
        )
        default = default_sae_id(con)
    n_docs, n_saes, n_populated, n_interpretations, n_families, n_splits = (int(value) for value in counts)
    return Overview(True, n_docs, n_saes, n_populated, n_interpretations, n_families, n_splits, frame, default)


def runs(path: str, version: Version) -> pd.DataFrame:
    """Every complete SAE (see ``Overview.runs``); a copy, so callers may filter it."""
    return overview(path, version).runs.copy()


@dataclass(frozen=True)
class StoredEvaluations:
    """What `just report`, `just fidelity` and `just steer-bench` stored per SAE (read, never recomputed)."""

    reports: dict[int, dict]
    """sae_id -> the quality card (eval_summaries, eval = 'report')."""
    fidelity: pd.DataFrame
    """sae_id, searched ('all' | 'test' | 'sampled' for rows from before the test split), n_queries,
    recall_at_10, ndcg_at_10, created_at."""
    steering: dict[int, tuple[dict, str]]
    """sae_id -> (the latest steering summary, when it was stored)."""


@st.cache_data(show_spinner=False, max_entries=32)
def stored_evaluations(path: str, version: Version) -> StoredEvaluations:
    with reader(path) as con:
        summaries = con.execute(
            "SELECT sae_id, eval, summary, created_at::VARCHAR FROM eval_summaries WHERE eval IN ('report', 'steering')"
        ).fetchall()
        fidelity = read_frame(con, "SELECT * FROM fidelity ORDER BY sae_id")
    if "searched" not in fidelity.columns:  # a warehouse not yet migrated by a writer: its rows predate the split
        fidelity["searched"] = "sampled"
    reports = {sae_id: json.loads(summary) for sae_id, kind, summary, _ in summaries if kind == "report"}
    steering = {sae_id: (json.loads(summary), when) for sae_id, kind, summary, when in summaries if kind == "steering"}
    columns = ["sae_id", "searched", "n_queries", "recall_at_10", "ndcg_at_10", "created_at"]
    return StoredEvaluations(reports, fidelity[columns], steering)
