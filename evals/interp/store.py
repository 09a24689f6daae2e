"""Reading and writing interpretation results in the warehouse (atomic per round of features)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from data.warehouse import insert_arrow, transaction
from evals.interp.examples import ROLES, Corpus, ExampleSet
from evals.interp.metrics import Scores

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


def write_results(con: duckdb.DuckDBPyConnection, sae_id: int, explainer: str, predictor: str, is_proxy: bool,
                  results: list[FeatureResult], examples: ExampleSet, predictions: np.ndarray, corpus: Corpus) -> None:
    """Replace these features' rows in ``interpretations`` and ``interp_examples`` in one transaction.

    ``predictions`` is aligned with ``examples`` rows (NaN where none: explanation rows, parse failures).
    """
    if not results:
        return
    latents = np.array([r.latent for r in results], dtype=np.int64)

    def metric(name: str, which: str) -> pa.Array:
        return pa.array([None if getattr(r, which) is None or np.isnan(getattr(getattr(r, which), name))
                         else float(getattr(getattr(r, which), name)) for r in results], pa.float64())

    interpretations = pa.table({
        "sae_id": pa.array(np.full(len(results), sae_id, dtype=np.int32)),
        "latent": pa.array(latents.astype(np.int32)),
        "explainer": pa.array([explainer] * len(results)),
        "predictor": pa.array([predictor] * len(results)),
        "is_proxy": pa.array([is_proxy] * len(results)),
        "label": pa.array([r.label for r in results], pa.string()),
        "reasoning": pa.array([r.reasoning for r in results], pa.string()),
        **{name: metric(name, "scores") for name in ("pearson", "f1", "auroc", "balanced_accuracy")},
        **{f"random_{name}": metric(name, "baseline") for name in ("pearson", "f1", "auroc", "balanced_accuracy")},
        "n_scored": pa.array([r.scores.n_scored if r.scores else None for r in results], pa.int32()),
        "parse_failures": pa.array([r.parse_failures for r in results], pa.int32()),
        "status": pa.array([r.status for r in results]),
        "error": pa.array([r.error for r in results], pa.string()),
    })
    mine = np.isin(examples.latent, latents)
    prediction = predictions[mine]
    example_rows = pa.table({
        "sae_id": pa.array(np.full(int(mine.sum()), sae_id, dtype=np.int32)),
        "latent": pa.array(examples.latent[mine].astype(np.int32)),
        "explainer": pa.array([explainer] * int(mine.sum())),
        "role": pa.array(np.array(ROLES, dtype=object)[examples.role[mine]].tolist(), pa.string()),
        "doc_id": pa.array(corpus.doc_ids[examples.doc_index[mine]].astype(np.int32)),
        "activation": pa.array(examples.activation[mine]),
        "prediction": pa.array(prediction.astype(np.float32), mask=np.isnan(prediction)),
    })
    con.register("_done_latents", pa.table({"latent": pa.array(latents.astype(np.int32))}))
    try:
        with transaction(con):
            for table in ("interpretations", "interp_examples"):
                con.execute(
                    f"DELETE FROM {table} WHERE sae_id = ? AND explainer = ? AND latent IN (SELECT latent FROM _done_latents)",
                    [sae_id, explainer],
                )
            con.register("_interp_rows", interpretations)
            columns = ", ".join(interpretations.column_names)
            con.execute(f"INSERT INTO interpretations ({columns}, created_at) SELECT {columns}, now() FROM _interp_rows")
            con.unregister("_interp_rows")
            insert_arrow(con, "interp_examples", example_rows, order_by="latent, role, activation DESC")
    finally:
        con.unregister("_done_latents")


def write_summary(con: duckdb.DuckDBPyConnection, sae_id: int, explainer: str, summary: dict) -> None:
    with transaction(con):
        con.execute(
            "INSERT INTO eval_summaries VALUES (?, ?, ?, now()) ON CONFLICT (sae_id, eval) "
            "DO UPDATE SET summary = excluded.summary, created_at = excluded.created_at",
            [sae_id, f"interp:{explainer}", json.dumps(summary)],
        )


@dataclass
class BestLabels:
    """One label per latent of an SAE: an LLM label before a proxy one, then the higher Pearson."""

    latent: np.ndarray
    label: list[str]
    explainer: list[str]
    is_proxy: np.ndarray
    pearson: np.ndarray
    """Held-out scores stored with the label (NaN where undefined)."""
    f1: np.ndarray


def best_labels(con: duckdb.DuckDBPyConnection, sae_id: int) -> BestLabels:
    table = con.execute(
        """
        SELECT latent, label, explainer, is_proxy, pearson, f1 FROM interpretations
        WHERE sae_id = ? AND status = 'complete' AND label IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY latent ORDER BY is_proxy, pearson DESC NULLS LAST, explainer) = 1
        ORDER BY latent
        """,
        [sae_id],
    ).fetchnumpy()
    number = lambda name: np.ma.filled(np.ma.asarray(table[name]).astype(np.float64), np.nan)  # noqa: E731
    return BestLabels(np.asarray(table["latent"], dtype=np.int64), [str(x) for x in table["label"]],
                      [str(x) for x in table["explainer"]], np.asarray(table["is_proxy"], dtype=bool),
                      number("pearson"), number("f1"))
