"""The steering benchmark: SAE intervention against query rewriting, over a (u, d) grid.

For each query: its embedding q, its top 100 and top 10; an (up, down) feature pair chosen for
relevance (``features.choose_features``); then
- ``sae``: q' = q + u * W_dec[up] + d * W_dec[down] for every (u, d) of the grid (or another
  ``intervention``, e.g. the tests' deliberately useless one);
- ``rewrite-offline`` / ``rewrite-llm``: the rewritten query text, re-embedded;
- ``control:<method>``: for every row above, q turned towards a random other feature's direction by
  the same angle (``control.py``): what drift alone does;
- ``none``: q itself (the reference point: cos 1, overlap 1).
Metrics per row, judged by an independent SAE (``concept_judge.py``), never the steering SAE:
cos(q, q'); up-success = share of the new top 10 carrying the up concept; down-success = share of
the original top 10's documents carrying the down concept that are gone from the new top 10 (NULL
when there are none); overlap = |original top 10 & new top 10| / 10. The headline compares SAE,
rewrite and control query by query at equal cos(q, q') (``paired.py``).

Over 300 lines as one module on purpose: the grid loop, its controls and the per-row metrics read
the same per-query state; feature choice, controls and the judge are their own modules.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from data.progress import tracked
from data.split import TEST
from data.text import collapse_whitespace
from data.warehouse import insert_arrow, transaction
from evals.steering.concept_judge import ConceptJudge
from evals.steering.config import SteeringBenchConfig
from evals.steering.control import control_latent, turned_towards
from evals.steering.features import FeatureCatalog, FeatureChoice, choose_features
from evals.steering.judge import N_DISTRACTORS, JudgeCase, Verdict
from evals.steering.paired import CONTROL, paired_summary
from evals.steering.rewrite import RewriteRequest
from evals.steering.search import SteerableSearch

Rewriter = Callable[[Sequence[RewriteRequest]], list[str | None]]
LLMJudge = Callable[[Sequence[JudgeCase]], list[Verdict]]
ActiveDocs = Callable[[list[int]], dict[int, frozenset[int]]]
DocLatents = Callable[[list[int]], dict[int, np.ndarray]]
DocTexts = Callable[[list[int]], dict[int, str]]
Intervention = Callable[[SteerableSearch, np.ndarray, FeatureChoice, float, float], np.ndarray]


def feature_steering(search: SteerableSearch, q: np.ndarray, choice: FeatureChoice, u: float, d: float) -> np.ndarray:
    """The SAE intervention: q + u * W_dec[up] - |d| * W_dec[down]."""
    return search.steer(q, up=[(choice.up, u)], down=[(choice.down, d)])


@dataclass
class Evidence:
    """What the benchmark reads about documents: the steering SAE's codes and the judge's verdicts."""

    doc_latents: DocLatents
    """Steering SAE: the active latents of documents (to find the query's relevant up feature)."""
    self_docs: ActiveDocs
    """Steering SAE: where a latent is active (only for the self-judged number shown for contrast)."""
    judge: ConceptJudge


@dataclass
class BenchmarkRun:
    """Rows for ``steering_results`` and what was skipped, with reasons."""

    run_id: str
    sae_id: int
    judge: str
    rewrite_method: str | None = None
    rows: list[dict] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Case(NamedTuple):
    query: str
    q: np.ndarray
    choice: FeatureChoice
    original: np.ndarray
    control_direction: np.ndarray


def default_queries(con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
    """Titles of the corpus's test-split documents (never trained on), in a seeded order."""
    titles = [
        row[0] for row in con.execute("SELECT title FROM docs WHERE split = ? ORDER BY doc_id", [TEST]).fetchall()
    ]
    if not titles:
        raise ValueError(
            "the warehouse has no test-split documents; run `just data <corpus>` first, or pass --queries FILE"
        )
    return [collapse_whitespace(titles[i]) for i in np.random.default_rng(seed).permutation(len(titles))]


def read_queries(path: str | Path) -> list[str]:
    """The non-empty lines of a query file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"query file {path} does not exist; give one query per line")
    queries = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not queries:
        raise ValueError(f"query file {path} has no queries; give one query per line")
    return queries


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


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def prepare_cases(
    search: SteerableSearch,
    queries: Sequence[str],
    catalog: FeatureCatalog,
    evidence: Evidence,
    config: SteeringBenchConfig,
    run: BenchmarkRun,
) -> list[Case]:
    """Up to ``n_queries`` queries with a judgeable (up, down) pair, in the given order."""
    rng = np.random.default_rng(config.seed)
    cases: list[Case] = []
    for chunk in _chunks(queries, config.n_queries):
        vectors = search.embed_many(chunk)
        hoods = [search.search(vector, config.neighbourhood).doc_ids for vector in vectors]
        codes = evidence.doc_latents(sorted({int(doc) for hood in hoods for doc in hood}))
        for text, vector, hood in zip(chunk, vectors, hoods, strict=False):
            if len(cases) == config.n_queries:
                return cases
            latents = search.encode(vector).latents
            choice = choose_features(latents, [codes[int(doc)] for doc in hood], catalog, config, evidence.judge.judges)
            if isinstance(choice, str):
                run.skipped[choice] += 1
                continue
            excluded = {*map(int, latents), choice.up, choice.down}
            direction = search.sae.W_dec[control_latent(search.info.n_latents, excluded, rng)].detach().numpy()
            cases.append(Case(text, vector, choice, hood[: config.top], direction))
    return cases


def run_benchmark(
    search: SteerableSearch,
    queries: Sequence[str],
    catalog: FeatureCatalog,
    evidence: Evidence,
    config: SteeringBenchConfig,
    rewriter: Rewriter | None,
    rewrite_method: str,
    intervention: Intervention = feature_steering,
    llm_judge: LLMJudge | None = None,
    doc_texts: DocTexts | None = None,
) -> BenchmarkRun:
    run = BenchmarkRun(
        run_id=f"steer-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        sae_id=search.info.sae_id,
        judge=evidence.judge.description,
    )
    cases = prepare_cases(search, queries, catalog, evidence, config, run)
    latents = sorted({latent for case in cases for latent in case.choice})
    judged, self_judged = (
        evidence.judge.present(latents),
        evidence.self_docs(sorted({case.choice.up for case in cases})),
    )

    def add_row(method: str, case: Case, u, d, q_new: np.ndarray, new: np.ndarray) -> float:
        up, down = case.choice
        cos = cosine(case.q, q_new)
        run.rows.append(
            {
                "run_id": run.run_id,
                "sae_id": run.sae_id,
                "method": method,
                "query": case.query,
                "up_latent": up,
                "down_latent": down,
                "u": u,
                "d": d,
                "cos_qq": cos,
                **score_results(case.original, new, judged[up], judged[down]),
                "up_success_self": score_results(case.original, new, self_judged[up], frozenset())["up_success"],
                "judge": {
                    "judge_sae_id": evidence.judge.sae_id,
                    "up": evidence.judge.describe(up),
                    "down": evidence.judge.describe(down),
                },
                "_new": new,
                "_original": case.original,
            }
        )
        return cos

    def add_with_control(method: str, case: Case, u, d, q_new: np.ndarray) -> None:
        cos = add_row(method, case, u, d, q_new, search.search(q_new, config.top).doc_ids)
        q_control = turned_towards(case.q, case.control_direction, cos)
        add_row(CONTROL + method, case, u, d, q_control, search.search(q_control, config.top).doc_ids)

    for case in tracked(cases, "steering queries", "queries"):
        add_row("none", case, 0.0, 0.0, case.q, case.original)
        for u in config.up_strengths:
            for d in config.down_strengths:
                add_with_control(
                    "sae", case, float(u), float(d), intervention(search, case.q, case.choice, float(u), float(d))
                )

    if rewriter is not None and cases:
        labelled = [case for case in cases if case.choice.up in catalog.labels]
        run.skipped["rewrite: up feature has no label"] += len(cases) - len(labelled)
        requests = [
            RewriteRequest(case.query, catalog.labels[case.choice.up], catalog.labels.get(case.choice.down))
            for case in labelled
        ]
        rewritten = rewriter(requests) if requests else []
        done = [(case, new_text) for case, new_text in zip(labelled, rewritten, strict=False) if new_text]
        run.skipped["rewrite: failed or unparsable"] += len(labelled) - len(done)
        new_vectors = search.embed_many([new_text for _, new_text in done]) if done else np.zeros((0, 0), np.float32)
        for (case, _), q_new in zip(done, new_vectors, strict=False):
            add_with_control(rewrite_method, case, None, None, q_new)
        run.rewrite_method = rewrite_method if done else None

    if llm_judge is not None and doc_texts is not None:
        judge_rows(run, catalog, config, llm_judge, doc_texts, np.random.default_rng(config.seed))
    for row in run.rows:
        row["judge"] = json.dumps(row["judge"])
        del row["_new"], row["_original"]
    return run


def judge_rows(
    run: BenchmarkRun, catalog: FeatureCatalog, config: SteeringBenchConfig, judge: LLMJudge, doc_texts: DocTexts, rng
) -> None:
    """Add the LLM's verdict (``judge.llm``) to the rewrite rows and the SAE rows at ``config.judge_settings``."""
    settings = {(float(u), float(d)) for u, d in config.judge_settings}
    eligible = [
        row
        for row in run.rows
        if row["method"].startswith("rewrite") or (row["method"] == "sae" and (row["u"], row["d"]) in settings)
    ]
    chosen = [row for row in eligible if row["up_latent"] in catalog.labels and row["down_latent"] in catalog.labels]
    run.skipped["LLM judge: up or down feature has no label"] += len(eligible) - len(chosen)
    if not chosen:
        return
    texts = doc_texts(sorted({int(doc) for row in chosen for doc in (*row["_new"], *row["_original"])}))
    labels = list(catalog.labels.items())
    cases = []
    for row in chosen:
        others = [label for latent, label in labels if latent not in (row["up_latent"], row["down_latent"])]
        distractors = [others[i] for i in rng.choice(len(others), min(N_DISTRACTORS, len(others)), replace=False)]
        cases.append(
            JudgeCase(
                [texts[int(doc)] for doc in row["_original"]],
                [texts[int(doc)] for doc in row["_new"]],
                catalog.labels[row["up_latent"]],
                catalog.labels[row["down_latent"]],
                distractors,
            )
        )
    for row, verdict in zip(chosen, judge(cases), strict=False):
        row["judge"]["llm"] = json.loads(verdict.to_json())


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def pareto_front(points: list[dict], metric: str) -> list[dict]:
    """Points not beaten on both cos(q, q') (higher = less drift) and ``metric`` by another point."""
    valid = [p for p in points if p[metric] is not None]
    return sorted(
        (
            p
            for p in valid
            if not any(
                o["cos"] >= p["cos"] and o[metric] >= p[metric] and (o["cos"], o[metric]) != (p["cos"], p[metric])
                for o in valid
            )
        ),
        key=lambda p: p["cos"],
    )


def summarise(run: BenchmarkRun, config: SteeringBenchConfig) -> dict:
    """``headline`` (judge, per-query paired comparison, tests; keys in the README) plus per-query values,
    per-(method, u, d) means and Pareto fronts."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in run.rows:
        groups[(row["method"], row["u"], row["d"])].append(row)
    points = []
    for (method, u, d), rows in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2] or 0)):
        verdicts = [v for v in (json.loads(row["judge"]).get("llm") for row in rows) if v]
        points.append(
            {
                "method": method,
                "u": u,
                "d": d,
                "n": len(rows),
                "cos": _mean([row["cos_qq"] for row in rows]),
                "up_success": _mean([row["up_success"] for row in rows]),
                "up_success_self_judged": _mean([row["up_success_self"] for row in rows]),
                "down_success": _mean([row["down_success"] for row in rows]),
                "n_down": sum(row["down_success"] is not None for row in rows),
                "overlap": _mean([row["overlap"] for row in rows]),
                "judge_up_accuracy": _mean([v["up_correct"] for v in verdicts]),
                "judge_down_accuracy": _mean([v["down_correct"] for v in verdicts]),
                "n_judged": sum(v["up_correct"] is not None for v in verdicts),
            }
        )
    sae_points = [p for p in points if p["method"] == "sae"]
    paired = paired_summary(run.rows, config, run.rewrite_method)
    per_query, path = paired.pop("per_query"), paired.pop("paired_path")
    headline = {
        "judge": run.judge,
        "judge_sae_id": json.loads(run.rows[0]["judge"])["judge_sae_id"] if run.rows else None,
        "llm_judge": config.judge_model if any(p["n_judged"] for p in points) else None,
        **paired,
    }
    return {
        "run_id": run.run_id,
        "headline": headline,  # scalars only: what `just report` and the dashboard show
        "paired_path": path,
        "per_query": per_query,
        "points": points,
        "sae_front_up": pareto_front(sae_points, "up_success"),
        "sae_front_down": pareto_front(sae_points, "down_success"),
        "skipped": {reason: count for reason, count in run.skipped.items() if count},
    }


STEERING_COLUMNS = (
    "run_id",
    "sae_id",
    "method",
    "query",
    "up_latent",
    "down_latent",
    "u",
    "d",
    "cos_qq",
    "up_success",
    "down_success",
    "overlap",
    "judge",
)


def store_run(con: duckdb.DuckDBPyConnection, run: BenchmarkRun, summary: dict) -> None:
    """All rows of the run and its summary (replacing the SAE's previous one), atomically."""
    rows = pa.Table.from_pylist(
        [{column: row[column] for column in STEERING_COLUMNS} for row in run.rows],
        schema=pa.schema(
            [
                ("run_id", pa.string()),
                ("sae_id", pa.int32()),
                ("method", pa.string()),
                ("query", pa.string()),
                ("up_latent", pa.int32()),
                ("down_latent", pa.int32()),
                ("u", pa.float64()),
                ("d", pa.float64()),
                ("cos_qq", pa.float64()),
                ("up_success", pa.float64()),
                ("down_success", pa.float64()),
                ("overlap", pa.float64()),
                ("judge", pa.string()),
            ]
        ),
    )
    with transaction(con):
        insert_arrow(con, "steering_results", rows)
        con.execute("DELETE FROM eval_summaries WHERE sae_id = ? AND eval = 'steering'", [run.sae_id])
        con.execute("INSERT INTO eval_summaries VALUES (?, 'steering', ?, now())", [run.sae_id, json.dumps(summary)])
