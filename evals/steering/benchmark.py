"""The steering benchmark: SAE intervention against query rewriting, over a (u, d) grid.

For each query: its embedding q and original top 10; an (up, down) feature pair
(``features.choose_features``); then
- ``sae``: q' = q + u * W_dec[up] + d * W_dec[down] for every (u, d) of the grid;
- ``rewrite-offline`` / ``rewrite-llm``: the rewritten query text, re-embedded;
- ``none``: q itself (the reference point: cos 1, overlap 1).
Metrics per row: cos(q, q'); up-success = fraction of the new top 10 where the up feature is
active; down-success = fraction of the original top 10's documents with the down feature
active that are gone from the new top 10 (NULL when the original top 10 has none);
overlap = |original top 10 & new top 10| / 10. Averages are taken per (method, u, d), each
metric over its own non-NULL rows with its own counter.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from data.text import collapse_whitespace
from data.warehouse import insert_arrow, transaction
from evals.steering.config import SteeringBenchConfig
from evals.steering.features import FeatureCatalog, FeatureChoice, choose_features, up_candidates
from evals.steering.judge import N_DISTRACTORS, JudgeCase, Verdict
from evals.steering.rewrite import RewriteRequest
from evals.steering.search import SteerableSearch

Rewriter = Callable[[Sequence[RewriteRequest]], list[str | None]]
Judge = Callable[[Sequence[JudgeCase]], list[Verdict]]
ActiveDocs = Callable[[list[int]], dict[int, frozenset[int]]]
DocTexts = Callable[[list[int]], dict[int, str]]


@dataclass
class BenchmarkRun:
    """Rows for ``steering_results`` and what was skipped, with reasons."""

    run_id: str
    sae_id: int
    rows: list[dict] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def default_queries(con: duckdb.DuckDBPyConnection, count: int, seed: int) -> list[str]:
    """Titles of a seeded random sample of the corpus's documents."""
    titles = [row[0] for row in con.execute("SELECT title FROM docs ORDER BY doc_id").fetchall()]
    if not titles:
        raise ValueError("the warehouse has no documents; run `just data <corpus>` first")
    picks = np.random.default_rng(seed).choice(len(titles), min(count, len(titles)), replace=False)
    return [collapse_whitespace(titles[i]) for i in sorted(picks)]


def read_queries(path: str | Path, count: int) -> list[str]:
    """The first ``count`` non-empty lines of a query file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"query file {path} does not exist; give one query per line")
    queries = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not queries:
        raise ValueError(f"query file {path} has no queries; give one query per line")
    return queries[:count]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def score_results(original: np.ndarray, new: np.ndarray, up_docs: frozenset[int], down_docs: frozenset[int]) -> dict:
    original_set, new_set = set(original.tolist()), set(new.tolist())
    down_hits = original_set & down_docs
    return {
        "up_success": sum(doc in up_docs for doc in new_set) / len(new),
        "down_success": len(down_hits - new_set) / len(down_hits) if down_hits else None,
        "overlap": len(original_set & new_set) / len(original),
    }


def run_benchmark(
    search: SteerableSearch, queries: Sequence[str], catalog: FeatureCatalog, active_docs: ActiveDocs,
    config: SteeringBenchConfig, rewriter: Rewriter | None, rewrite_method: str,
    judge: Judge | None = None, doc_texts: DocTexts | None = None,
) -> BenchmarkRun:
    run = BenchmarkRun(run_id=f"steer-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", sae_id=search.info.sae_id)
    rng = np.random.default_rng(config.seed)
    candidates = up_candidates(catalog, config)
    vectors = search.embed_many(list(queries))
    cases: list[tuple[str, np.ndarray, FeatureChoice, np.ndarray]] = []
    for text, vector in zip(queries, vectors):
        choice = choose_features(search.encode(vector).latents, catalog, candidates, config, rng)
        if choice is None:
            run.skipped["query without a steerable feature"] += 1
            continue
        cases.append((text, vector, choice, search.search(vector, config.top).doc_ids))
    activity = active_docs(sorted({latent for _, _, choice, _ in cases for latent in choice}))

    def add_row(method: str, text: str, choice: FeatureChoice, u, d, q, q_new, original, new) -> None:
        run.rows.append({"run_id": run.run_id, "sae_id": run.sae_id, "method": method, "query": text,
               "up_latent": choice.up, "down_latent": choice.down, "u": u, "d": d, "cos_qq": cosine(q, q_new),
               **score_results(original, new, activity[choice.up], activity[choice.down]), "judge": None,
               "_new": new, "_original": original})

    for text, q, choice, original in cases:
        add_row("none", text, choice, 0.0, 0.0, q, q, original, original)
        for u in config.up_strengths:
            for d in config.down_strengths:
                steered = search.steer(q, up=[(choice.up, u)], down=[(choice.down, d)])
                add_row("sae", text, choice, u, d, q, steered, original, search.search(steered, config.top).doc_ids)

    if rewriter is not None:
        labelled = [case for case in cases if case[2].up in catalog.labels]
        run.skipped["rewrite: up feature has no label"] += len(cases) - len(labelled)
        requests = [RewriteRequest(text, catalog.labels[choice.up], catalog.labels.get(choice.down)) for text, _, choice, _ in labelled]
        rewritten = rewriter(requests) if requests else []
        done = [(case, new_text) for case, new_text in zip(labelled, rewritten) if new_text]
        run.skipped["rewrite: failed or unparsable"] += len(labelled) - len(done)
        new_vectors = search.embed_many([new_text for _, new_text in done]) if done else []
        for ((text, q, choice, original), _), q_new in zip(done, new_vectors):
            add_row(rewrite_method, text, choice, None, None, q, q_new, original, search.search(q_new, config.top).doc_ids)

    if judge is not None and doc_texts is not None:
        judge_rows(run, catalog, config, judge, doc_texts, rng)
    for row in run.rows:
        del row["_new"], row["_original"]
    return run


def judge_rows(run: BenchmarkRun, catalog: FeatureCatalog, config: SteeringBenchConfig, judge: Judge, doc_texts: DocTexts, rng) -> None:
    """Fill ``judge`` of the rewrite rows and of the SAE rows at ``config.judge_settings``."""
    settings = {(float(u), float(d)) for u, d in config.judge_settings}
    eligible = [
        row for row in run.rows
        if row["method"].startswith("rewrite") or (row["method"] == "sae" and (row["u"], row["d"]) in settings)
    ]
    chosen = [row for row in eligible if row["up_latent"] in catalog.labels and row["down_latent"] in catalog.labels]
    run.skipped["judge: up or down feature has no label"] += len(eligible) - len(chosen)
    if not chosen:
        return
    texts = doc_texts(sorted({int(doc) for row in chosen for doc in (*row["_new"], *row["_original"])}))
    labels = list(catalog.labels.items())
    cases = []
    for row in chosen:
        others = [label for latent, label in labels if latent not in (row["up_latent"], row["down_latent"])]
        distractors = [others[i] for i in rng.choice(len(others), min(N_DISTRACTORS, len(others)), replace=False)]
        cases.append(JudgeCase(
            [texts[int(doc)] for doc in row["_original"]], [texts[int(doc)] for doc in row["_new"]],
            catalog.labels[row["up_latent"]], catalog.labels[row["down_latent"]], distractors,
        ))
    for row, verdict in zip(chosen, judge(cases)):
        row["judge"] = verdict.to_json()


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def pareto_front(points: list[dict], metric: str) -> list[dict]:
    """Points not beaten on both cos(q, q') (higher = less drift) and ``metric`` by another point."""
    valid = [p for p in points if p[metric] is not None]
    return sorted(
        (p for p in valid if not any(o["cos"] >= p["cos"] and o[metric] >= p[metric] and (o["cos"], o[metric]) != (p["cos"], p[metric]) for o in valid)),
        key=lambda p: p["cos"],
    )


def summarise(run: BenchmarkRun) -> dict:
    """Per (method, u, d) means, each metric with its own count; Pareto fronts; matched-drift comparison."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in run.rows:
        groups[(row["method"], row["u"], row["d"])].append(row)
    points = []
    for (method, u, d), rows in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2] or 0)):
        verdicts = [json.loads(row["judge"]) for row in rows if row["judge"]]
        points.append({
            "method": method, "u": u, "d": d, "n": len(rows),
            "cos": _mean([row["cos_qq"] for row in rows]),
            "up_success": _mean([row["up_success"] for row in rows]),
            "down_success": _mean([row["down_success"] for row in rows]),
            "n_down": sum(row["down_success"] is not None for row in rows),
            "overlap": _mean([row["overlap"] for row in rows]),
            "judge_up_accuracy": _mean([v["up_correct"] for v in verdicts]),
            "judge_down_accuracy": _mean([v["down_correct"] for v in verdicts]),
            "n_judged": sum(v["up_correct"] is not None for v in verdicts),
        })
    sae_points = [p for p in points if p["method"] == "sae"]
    matched = []
    for rewrite in (p for p in points if p["method"].startswith("rewrite")):
        nearest = min(sae_points, key=lambda p: abs(p["cos"] - rewrite["cos"]), default=None)
        matched.append({"rewrite": rewrite, "sae_at_matched_cos": nearest})
    return {
        "run_id": run.run_id,
        "n_queries": len({row["query"] for row in run.rows}),
        "points": points,
        "sae_front_up": pareto_front(sae_points, "up_success"),
        "sae_front_down": pareto_front(sae_points, "down_success"),
        "matched_drift": matched,
        "skipped": {reason: count for reason, count in run.skipped.items() if count},
    }


STEERING_COLUMNS = ("run_id", "sae_id", "method", "query", "up_latent", "down_latent", "u", "d",
                    "cos_qq", "up_success", "down_success", "overlap", "judge")


def store_run(con: duckdb.DuckDBPyConnection, run: BenchmarkRun, summary: dict) -> None:
    """All rows of the run and its summary (replacing the SAE's previous one), atomically."""
    rows = pa.Table.from_pylist([{column: row[column] for column in STEERING_COLUMNS} for row in run.rows], schema=pa.schema([
        ("run_id", pa.string()), ("sae_id", pa.int32()), ("method", pa.string()), ("query", pa.string()),
        ("up_latent", pa.int32()), ("down_latent", pa.int32()), ("u", pa.float64()), ("d", pa.float64()),
        ("cos_qq", pa.float64()), ("up_success", pa.float64()), ("down_success", pa.float64()),
        ("overlap", pa.float64()), ("judge", pa.string()),
    ]))
    with transaction(con):
        insert_arrow(con, "steering_results", rows)
        con.execute("DELETE FROM eval_summaries WHERE sae_id = ? AND eval = 'steering'", [run.sae_id])
        con.execute(
            "INSERT INTO eval_summaries VALUES (?, 'steering', ?, now())", [run.sae_id, json.dumps(summary)]
        )
