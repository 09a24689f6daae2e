"""The steering benchmark on the real astro corpus (real DuckDB, real MiniLM, fake OpenAI server)."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

from data.commands import config_from
from data.text import collapse_whitespace
from data.warehouse import open_reader, open_writer
from evals.llm import LLMClient, LLMSettings
from evals.steering.benchmark import (
    default_queries,
    read_queries,
    run_benchmark,
    store_run,
    summarise,
)
from evals.steering.cli import bench_parser
from evals.steering.config import SteeringBenchConfig
from evals.steering.features import load_catalog
from evals.steering.judge import JudgeCase, judge_cases, parse_verdict
from evals.steering.plots import pareto_figure
from evals.steering.rewrite import (
    RewriteRequest,
    llm_rewrites,
    offline_rewrite,
    parse_final,
)
from tests.fake_openai import Fault
from tests.steering_helpers import (
    evidence_from,
    untrained_search,
    write_untrained_atlas,
)

GRID = {
    "up_strengths": [0.5, 1.0, 2.5, 10.0],
    "down_strengths": [0.0, -1.0, -5.0],
    "paired_path": [[1.0, -1.0], [2.5, 0.0], [10.0, 0.0]],
}
ONE = {"up_strengths": [1.0, 2.5], "down_strengths": [-1.0], "paired_path": [[1.0, -1.0], [2.5, -1.0]]}


@pytest.fixture(scope="module")
def search(astro_warehouse_template):
    return untrained_search(astro_warehouse_template)


@pytest.fixture
def atlas(search, astro_warehouse):
    labels = write_untrained_atlas(astro_warehouse, search)
    return astro_warehouse, labels


def offline(requests):
    return [offline_rewrite(r) for r in requests]


def run_on(atlas, search, config, rewriter=offline, method="rewrite-offline", judge=None, doc_texts=None):
    path, _ = atlas
    with open_reader(path) as con:
        catalog = load_catalog(con, search.info.sae_id, search.info.n_latents)
        queries = default_queries(con, config.seed)
    return catalog, run_benchmark(
        search,
        queries,
        catalog,
        evidence_from(path, search),
        config,
        rewriter,
        method,
        llm_judge=judge,
        doc_texts=doc_texts,
    )


def test_grid_metrics_behave_and_are_stored(atlas, search):
    config = SteeringBenchConfig(n_queries=12, **GRID)
    catalog, run = run_on(atlas, search, config)
    assert catalog.labels and 0 < catalog.density.max() <= 1
    n_cases = sum(1 for row in run.rows if row["method"] == "none")
    assert n_cases == 12
    assert (
        sum(row["method"] == "sae" for row in run.rows)
        == sum(row["method"] == "control:sae" for row in run.rows)
        == n_cases * 12
    )
    assert sum(row["method"] == "rewrite-offline" for row in run.rows) == n_cases  # every up feature is labelled
    assert sum(row["method"] == "control:rewrite-offline" for row in run.rows) == n_cases
    for row in run.rows:
        assert row["up_latent"] != row["down_latent"]
        if row["method"] == "none":
            assert row["cos_qq"] == pytest.approx(1.0) and row["overlap"] == 1.0
            assert row["down_success"] in (None, 0.0)
    summary = summarise(run, config)
    point = {(p["method"], p["u"], p["d"]): p for p in summary["points"]}
    # more up-strength: further from the query, more results with the up feature active
    assert point["sae", 10.0, 0.0]["cos"] < point["sae", 2.5, 0.0]["cos"] < point["sae", 0.5, 0.0]["cos"] < 1
    assert point["sae", 10.0, 0.0]["up_success"] > point["none", 0.0, 0.0]["up_success"] + 0.3
    # removing the down feature drops its documents from the original top 10
    assert point["sae", 0.5, -5.0]["down_success"] > point["sae", 0.5, 0.0]["down_success"]
    assert point["sae", 0.5, -5.0]["n_down"] > 0
    assert summary["sae_front_up"] and summary["headline"]["rewrite_method"] == "rewrite-offline"
    assert summary["headline"]["n_paired"] == 12 and len(summary["per_query"]) == 12
    # the headline holds scalars only (what `just report` prints)
    assert all(not isinstance(value, (dict, list)) for value in summary["headline"].values())
    figure = pareto_figure(summary, "test")
    assert {
        "SAE (u, d) grid",
        "SAE Pareto front",
        "rewrite-offline",
        "none",
        "control:rewrite-offline",
        "control: random feature direction, same cos",
    } <= {trace.name for trace in figure.data}

    path, _ = atlas
    with open_writer(path) as con:
        store_run(con, run, summary)
        store_run(con, run, summary)  # a second summary replaces the first
        stored = con.execute("SELECT count(*), count(DISTINCT run_id) FROM steering_results").fetchall()[0]
        summaries = con.execute("SELECT summary FROM eval_summaries WHERE eval = 'steering'").fetchall()
    assert stored == (2 * len(run.rows), 1)
    assert len(summaries) == 1 and json.loads(summaries[0][0])["run_id"] == run.run_id


def test_offline_rewrite_appends_the_up_label(atlas, search):
    _, run = run_on(atlas, search, SteeringBenchConfig(n_queries=5, **ONE))
    assert (
        offline_rewrite(RewriteRequest("dark matter halos", "weak lensing", None))
        == "dark matter halos and weak lensing"
    )
    rewrites = [row for row in run.rows if row["method"] == "rewrite-offline"]
    assert rewrites and all(0 < row["cos_qq"] < 1 for row in rewrites)


def answer_rewrite(request):
    prompt = request["messages"][-1]["content"]
    query = prompt.split("Original query: ", 1)[1].split("\n", 1)[0]
    topic = prompt.split('Add the topic "', 1)[1].split('"', 1)[0]
    return f"Reasoning...\nFINAL: {query} and {topic}"


def test_llm_rewrite_via_the_client_skips_failures_with_a_count(atlas, search, fake_openai):
    fake_openai.chat = answer_rewrite
    fake_openai.faults["chat"] += [Fault.status_code(500)] * 3  # the first request: 2 retries, then it fails
    client = LLMClient(
        LLMSettings(base_url=fake_openai.base_url, api_key="test", max_concurrency=1, max_retries=2, timeout_s=5)
    )
    _, run = run_on(
        atlas,
        search,
        SteeringBenchConfig(n_queries=6, **ONE),
        rewriter=partial(llm_rewrites, client),
        method="rewrite-llm",
    )
    rewrites = [row for row in run.rows if row["method"] == "rewrite-llm"]
    cases = sum(row["method"] == "none" for row in run.rows)
    assert len(rewrites) + run.skipped["rewrite: failed or unparsable"] == cases
    assert run.skipped["rewrite: failed or unparsable"] >= 1 and rewrites
    assert parse_final("thinking\nFINAL: **galaxies and quasars**") == "galaxies and quasars"
    assert parse_final("no answer") is None


def answer_judge(request):
    prompt = request["messages"][-1]["content"]
    options = [line for line in prompt.splitlines() if line[:1].isdigit() and ". " in line]
    position = {line.split(". ", 1)[1]: line.split(".", 1)[0] for line in options}
    if "MALFORMED" in position:
        return "I cannot decide."
    return f"Topics...\nFINAL: {position['UP topic']}, {position['DOWN topic']}"


def test_judge_scores_up_and_down_separately_and_records_unparsable_answers(fake_openai):
    fake_openai.chat = answer_judge
    client = LLMClient(LLMSettings(base_url=fake_openai.base_url, api_key="test", timeout_s=5))
    case = JudgeCase(["a"] * 10, ["b"] * 10, "UP topic", "DOWN topic", ["x", "y", "z"])
    broken = JudgeCase(["a"] * 10, ["b"] * 10, "MALFORMED", "DOWN topic", ["x", "y", "z"])
    verdicts = judge_cases(client, [case] * 4 + [broken], seed=3)
    assert all(v.up_correct and v.down_correct for v in verdicts[:4])
    assert verdicts[4].up_correct is None and verdicts[4].down_correct is None
    # the paper's counter bug: up and down are scored against their own positions
    assert parse_verdict("FINAL: 2, 4", up_position=2, down_position=5)[:2] == (True, False)
    assert parse_verdict("FINAL: 4, 2", up_position=2, down_position=5)[:2] == (False, False)


def test_judge_in_the_benchmark_fills_only_the_judged_settings(atlas, search, fake_openai):
    fake_openai.chat = lambda request: "FINAL: 1, 2"
    client = LLMClient(LLMSettings(base_url=fake_openai.base_url, api_key="test", timeout_s=5))
    path, _ = atlas

    def doc_texts(doc_ids):
        with open_reader(path) as con:
            return dict(
                con.execute("SELECT doc_id, title FROM docs WHERE list_contains(?, doc_id)", [doc_ids]).fetchall()
            )

    config = SteeringBenchConfig(
        n_queries=4,
        up_strengths=[1.0, 5.0],
        down_strengths=[-1.0],
        judge_settings=[[5.0, -1.0]],
        paired_path=[[1.0, -1.0], [5.0, -1.0]],
    )
    _, run = run_on(atlas, search, config, judge=partial(judge_cases, client, seed=0), doc_texts=doc_texts)
    judged = [row for row in run.rows if "llm" in json.loads(row["judge"])]
    assert {(row["method"], row["u"]) for row in judged} == {("sae", 5.0), ("rewrite-offline", None)}
    summary = summarise(run, config)
    for p in summary["points"]:
        flags = [
            json.loads(r["judge"])["llm"]
            for r in judged
            if (r["method"], r["u"], r["d"]) == (p["method"], p["u"], p["d"])
        ]
        assert p["n_judged"] == len(flags)
        if flags:
            assert p["judge_up_accuracy"] == pytest.approx(np.mean([f["up_correct"] for f in flags]))
            assert p["judge_down_accuracy"] == pytest.approx(np.mean([f["down_correct"] for f in flags]))


def test_queries_come_from_a_file_or_test_split_titles(astro_warehouse_template, shared_data_dir, tmp_path):
    queries = read_queries(shared_data_dir / "queries_cslg.txt")
    assert len(queries) > 7 and all(queries)
    with open_reader(astro_warehouse_template) as con:
        titles = default_queries(con, seed=1)
        assert titles == default_queries(con, seed=1) != default_queries(con, seed=2)
        rows = con.execute("SELECT title, split FROM docs").fetchall()
    test_titles = {collapse_whitespace(title) for title, split in rows if split == "test"}
    # only documents no SAE trains on: every test-split title, and nothing else
    assert len(titles) == sum(split == "test" for _, split in rows) > 1000 and set(titles) == test_titles
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(ValueError, match="no queries"):
        read_queries(empty)
    with pytest.raises(FileNotFoundError, match="one query per line"):
        read_queries(tmp_path / "missing.txt")


def test_config_file_rejects_unknown_keys(tmp_path, capsys):
    parser = bench_parser()
    defaults = config_from(parser, parser.parse_args(["astro"]), SteeringBenchConfig)
    assert defaults.up_strengths == [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    bad = tmp_path / "steering.yaml"
    bad.write_text("n_querys: 3\n")
    with pytest.raises(SystemExit):
        parser.parse_args(["astro", "--config", str(bad)])
    assert "n_querys" in capsys.readouterr().err
    assert config_from(parser, parser.parse_args(["astro", "--n_queries", "3"]), SteeringBenchConfig).n_queries == 3
    off_grid = parser.parse_args(["astro", "--paired_path", "[[0.3, -0.3], [1.0, -1.0]]"])
    with pytest.raises(ValueError, match="paired_path"):
        config_from(parser, off_grid, SteeringBenchConfig)


def test_clis_report_bad_input_without_a_traceback(astro_warehouse, tmp_path, capsys):
    from evals import fidelity
    from evals.steering import cli

    assert cli.main(["bench", "astro", "--warehouse", str(astro_warehouse), "--sae-id", "99"]) == 2
    assert "no complete SAE with id 99" in capsys.readouterr().out
    assert cli.main(["bench", "astro", "--warehouse", str(astro_warehouse)]) == 2
    assert "train one with `just train astro`" in capsys.readouterr().out
    assert fidelity.main(["astro", "--warehouse", str(tmp_path / "missing.duckdb")]) == 2
    assert "just data" in capsys.readouterr().out
