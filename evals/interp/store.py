"""Reading and writing interpretation results in the warehouse (atomic per round of features)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from data.warehouse import insert_arrow, transaction
from evals.interp.config import CleanConfig
from evals.interp.examples import ROLES, Corpus, ExampleSet
from evals.interp.metrics import Scores
from evals.interp.phrase_labels import duplicate_of

DONE_STATUSES = ("complete", "too_few_active", "too_few_inactive")


def finished_latents(con: duckdb.DuckDBPyConnection, sae_id: int, explainer: str) -> set[int]:
    rows = con.execute(
        "SELECT latent FROM interpretations WHERE sae_id = ? AND explainer = ? AND status IN (?, ?, ?)",
        [sae_id, explainer, *DONE_STATUSES],
    ).fetchall()
    return {r[0] for r in rows}


def stored_label_map(con: duckdb.DuckDBPyConnection, sae_id: int, explainer: str) -> dict[int, str]:
    rows = con.execute(
        "SELECT latent, label FROM interpretations WHERE sae_id = ? AND explainer = ? AND status = 'complete'",
        [sae_id, explainer],
    ).fetchall()
    return dict(rows)


def failed_attempts(con: duckdb.DuckDBPyConnection, sae_id: int, explainer: str) -> dict[int, str]:
    """Latents whose last attempt failed -> a tag naming that attempt (so the retry is not a cache hit)."""
    rows = con.execute(
        "SELECT latent, CAST(created_at AS VARCHAR) FROM interpretations "
        "WHERE sae_id = ? AND explainer = ? AND status = 'error'",
        [sae_id, explainer],
    ).fetchall()
    return {latent: f"after failed attempt at {when}" for latent, when in rows}


@dataclass
class FeatureResult:
    latent: int
    status: str
    label: str | None = None
    reasoning: str | None = None
    scores: Scores | None = None
    baseline: Scores | None = None
    parse_failures: int = 0
    error: str | None = None


def stored_density(con: duckdb.DuckDBPyConnection, sae_id: int, latents: np.ndarray) -> np.ndarray:
    """``latents.density`` of each of ``latents`` (NaN where the trainer stored none)."""
    rows = con.execute("SELECT latent, density FROM latents WHERE sae_id = ?", [sae_id]).fetchall()
    known = dict(rows)
    return np.array([known.get(int(latent), np.nan) for latent in latents], dtype=np.float64)


def write_results(
    con: duckdb.DuckDBPyConnection,
    sae_id: int,
    explainer: str,
    predictor: str,
    is_proxy: bool,
    results: list[FeatureResult],
    examples: ExampleSet,
    predictions: np.ndarray,
    corpus: Corpus,
    clean: CleanConfig,
) -> None:
    """Replace these features' rows in ``interpretations`` and ``interp_examples`` in one transaction.

    ``predictions`` is aligned with ``examples`` rows (NaN where none: explanation rows, parse failures).
    Each row's ``clean`` flag is decided here, once, by ``clean`` on its scores and stored density.
    """
    if not results:
        return
    latents = np.array([r.latent for r in results], dtype=np.int64)
    nan = float("nan")
    verdicts = clean.accepts(
        np.array([r.scores.pearson if r.scores else nan for r in results]),
        np.array([r.scores.f1 if r.scores else nan for r in results]),
        stored_density(con, sae_id, latents),
    )

    def metric(name: str, which: str) -> pa.Array:
        return pa.array(
            [
                None
                if getattr(r, which) is None or np.isnan(getattr(getattr(r, which), name))
                else float(getattr(getattr(r, which), name))
                for r in results
            ],
            pa.float64(),
        )

    interpretations = pa.table(
        {
            "sae_id": pa.array(np.full(len(results), sae_id, dtype=np.int32)),
            "latent": pa.array(latents.astype(np.int32)),
            "explainer": pa.array([explainer] * len(results)),
            "predictor": pa.array([predictor] * len(results)),
            "is_proxy": pa.array([is_proxy] * len(results)),
            "label": pa.array([r.label for r in results], pa.string()),
            "reasoning": pa.array([r.reasoning for r in results], pa.string()),
            **{name: metric(name, "scores") for name in ("pearson", "f1", "auroc", "balanced_accuracy")},
            **{f"random_{name}": metric(name, "baseline") for name in ("pearson", "f1", "auroc", "balanced_accuracy")},
            **{name: metric(name, "scores") for name in ("auroc_random", "auroc_hard")},
            **{f"random_{name}": metric(name, "baseline") for name in ("auroc_random", "auroc_hard")},
            "n_scored": pa.array([r.scores.n_scored if r.scores else None for r in results], pa.int32()),
            "parse_failures": pa.array([r.parse_failures for r in results], pa.int32()),
            "status": pa.array([r.status for r in results]),
            "error": pa.array([r.error for r in results], pa.string()),
            "clean": pa.array(verdicts, pa.bool_()),
        }
    )
    mine = np.isin(examples.latent, latents)
    prediction = predictions[mine]
    example_rows = pa.table(
        {
            "sae_id": pa.array(np.full(int(mine.sum()), sae_id, dtype=np.int32)),
            "latent": pa.array(examples.latent[mine].astype(np.int32)),
            "explainer": pa.array([explainer] * int(mine.sum())),
            "role": pa.array(np.array(ROLES, dtype=object)[examples.role[mine]].tolist(), pa.string()),
            "doc_id": pa.array(corpus.doc_ids[examples.doc_index[mine]].astype(np.int32)),
            "activation": pa.array(examples.activation[mine]),
            "prediction": pa.array(prediction.astype(np.float32), mask=np.isnan(prediction)),
        }
    )
    con.register("_done_latents", pa.table({"latent": pa.array(latents.astype(np.int32))}))
    try:
        with transaction(con):
            for table in ("interpretations", "interp_examples"):
                con.execute(
                    f"DELETE FROM {table} "
                    "WHERE sae_id = ? AND explainer = ? AND latent IN (SELECT latent FROM _done_latents)",
                    [sae_id, explainer],
                )
            con.register("_interp_rows", interpretations)
            columns = ", ".join(interpretations.column_names)
            con.execute(
                f"INSERT INTO interpretations ({columns}, created_at) SELECT {columns}, now() FROM _interp_rows"
            )
            con.unregister("_interp_rows")
            insert_arrow(con, "interp_examples", example_rows, order_by="latent, role, activation DESC")
    finally:
        con.unregister("_done_latents")


def flag_duplicates(con: duckdb.DuckDBPyConnection, sae_id: int, explainer: str) -> int:
    """Point every near-duplicate label of this explainer at the latent that keeps it (the best
    scored one); returns how many are flagged."""
    rows = con.execute(
        "SELECT latent, label, (auroc_random + auroc_hard) / 2 FROM interpretations "
        "WHERE sae_id = ? AND explainer = ? AND status = 'complete' AND label IS NOT NULL ORDER BY latent",
        [sae_id, explainer],
    ).fetchall()
    flagged = duplicate_of([r[0] for r in rows], [r[1] for r in rows], [np.nan if r[2] is None else r[2] for r in rows])
    table = pa.table(
        {"latent": pa.array(list(flagged), pa.int32()), "keeper": pa.array(list(flagged.values()), pa.int32())}
    )
    with transaction(con):
        con.execute(
            "UPDATE interpretations SET duplicate_of = NULL WHERE sae_id = ? AND explainer = ?", [sae_id, explainer]
        )
        con.register("_duplicates", table)
        try:
            con.execute(
                "UPDATE interpretations SET duplicate_of = d.keeper FROM _duplicates d "
                "WHERE sae_id = ? AND explainer = ? AND interpretations.latent = d.latent",
                [sae_id, explainer],
            )
        finally:
            con.unregister("_duplicates")
    return len(flagged)


def write_summary(con: duckdb.DuckDBPyConnection, sae_id: int, explainer: str, summary: dict) -> None:
    with transaction(con):
        con.execute(
            "INSERT INTO eval_summaries VALUES (?, ?, ?, now()) ON CONFLICT (sae_id, eval) "
            "DO UPDATE SET summary = excluded.summary, created_at = excluded.created_at",
            [sae_id, f"interp:{explainer}", json.dumps(summary)],
        )
