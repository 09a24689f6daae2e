"""Steering, fidelity and their CLIs on the trainer's real SAEs (trained_astro: n = 768/1536/3072, k = 32)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from data.embeddings import load_embeddings
from data.saes import JUDGE_MARK
from data.settings import artifacts_dir
from data.warehouse import open_reader, open_writer
from evals import fidelity
from evals.fidelity import FidelityConfig, corpus_fidelity, reconstruct_documents
from evals.saes import UnknownSAE, complete_sae, pick_sae
from evals.steering import cli
from evals.steering.benchmark import default_queries, run_benchmark, summarise
from evals.steering.config import SteeringBenchConfig
from evals.steering.errors import LatentOutOfRange, ModelMismatch
from evals.steering.features import load_catalog
from evals.steering.rewrite import offline_rewrite
from evals.steering.search import SteerableSearch
from tests.steering_helpers import evidence_from
from trainer.checkpoint import load_sae_from_warehouse


@pytest.fixture(scope="module")
def trained_search(trained_astro):
    return SteerableSearch(trained_astro.path, trained_astro.sae_ids[0])


def test_steerable_search_loads_the_sae_and_the_corpus_once(trained_search, trained_astro):
    assert trained_search.info.n_latents == 768 and trained_search.info.k == 32
    assert trained_search.index.size == 12_623 and trained_search.index.dim == 384
    latents = trained_search.query_latents("weak gravitational lensing by galaxy clusters")
    assert 0 < len(latents.latents) <= 32 and np.all(latents.latents < 768)
    q = trained_search.embed("weak gravitational lensing by galaxy clusters")
    strongest = int(latents.latents[0])
    steered = trained_search.steer(q, down=[(strongest, -5.0)])
    assert strongest not in trained_search.encode(steered).latents[:1]
    assert len(trained_search.search(steered).doc_ids) == 10
    with pytest.raises(LatentOutOfRange):
        trained_search.steer(q, up=[(768, 1.0)])
    with pytest.raises(ModelMismatch):
        trained_search.search(q, model="text-embedding-3-small")
    with pytest.raises(UnknownSAE, match=str(trained_astro.sae_ids)):
        SteerableSearch(trained_astro.path, max(trained_astro.sae_ids) + 1)


def test_fidelity_of_every_sae_is_stored_and_reconstructions_match_the_sae(trained_astro_copy):
    path = trained_astro_copy.path
    with open_reader(path) as con:
        info = complete_sae(con, trained_astro_copy.sae_ids[0])
        sae = load_sae_from_warehouse(con, info.sae_id)
        doc_ids, original = load_embeddings(con, info.embed_model)
        rebuilt = reconstruct_documents(con, info, doc_ids, sae.W_dec.detach().numpy(), sae.b_pre.detach().numpy())
    with torch.no_grad():
        direct = sae.decode(
            *sae.encode(torch.from_numpy(original[:200].copy()))
        ).numpy()  # the inference path (BatchTopK: threshold)
    np.testing.assert_allclose(rebuilt[:200], direct, atol=2e-4)

    results = corpus_fidelity(path, "astro", FidelityConfig(n_queries=150))
    assert sorted(results) == sorted(trained_astro_copy.sae_ids)
    for per_sae in results.values():  # test queries over every other document, then over test documents only
        assert [scores.searched for scores in per_sae] == ["all", "test"]
        assert all(s.n_queries == 150 and 0 < s.recall < 1 and 0 < s.ndcg < 1 for s in per_sae)
    fidelity.main(["astro", "--warehouse", str(path), "--n_queries", "150"])  # re-run replaces, not appends
    with open_reader(path) as con:
        rows = con.execute("SELECT sae_id, searched, recall_at_10 FROM fidelity ORDER BY sae_id, searched").fetchall()
    assert [row[:2] for row in rows] == [(i, s) for i in sorted(trained_astro_copy.sae_ids) for s in ("all", "test")]
    recall = {(sae_id, s.searched): s.recall for sae_id, per_sae in results.items() for s in per_sae}
    assert all(row[2] == pytest.approx(recall[row[:2]]) for row in rows)


def test_steer_bench_cli_trains_an_independent_judge_once_and_reports_without_labels(
    trained_astro_copy, tmp_path, capsys
):
    config = tmp_path / "steering.yaml"
    # 20 judge steps keep the test cheap; such a judge's decoders barely match, hence the low judge_min_cos
    config.write_text(
        "up_strengths: [1.0, 10.0]\ndown_strengths: [-1.0, -5.0]\nn_queries: 8\n"
        "paired_path: [[1.0, -1.0], [10.0, -5.0]]\njudge_max_steps: 20\njudge_min_cos: 0.15\n"
    )
    path = trained_astro_copy.path
    assert cli.main(["bench", "astro", "--warehouse", str(path), "--config", str(config)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "training the judge SAE" in printed and "no SAE-vs-rewrite comparison" in printed
    assert re.search(r"steering queries .* (\d+)/\1 [\d.]+ queries/s", captured.err), captured.err[-500:]  # the bar
    with open_reader(path) as con:
        steered = max(trained_astro_copy.sae_ids)  # default: the newest (= largest here) SAE that is no judge
        judge = con.execute(
            "SELECT sae_id, name, n_latents, k, config FROM saes WHERE sae_id NOT IN ?", [trained_astro_copy.sae_ids]
        ).fetchall()
        methods = dict(con.execute("SELECT method, count(*) FROM steering_results GROUP BY method").fetchall())
        sae_ids = con.execute("SELECT DISTINCT sae_id FROM steering_results").fetchall()
        judged_by = {
            json.loads(row[0])["judge_sae_id"] for row in con.execute("SELECT judge FROM steering_results").fetchall()
        }
        summary = json.loads(con.execute("SELECT summary FROM eval_summaries WHERE eval = 'steering'").fetchall()[0][0])
        assert pick_sae(con, "astro", None).sae_id == steered  # the judge never becomes a default
    [(judge_id, name, n_latents, k, run_config)] = judge
    headline = summary["headline"]
    assert JUDGE_MARK in name and (n_latents, k) == (3072, 32) and json.loads(run_config)["seed"] == 1
    assert sae_ids == [(steered,)] and judged_by == {judge_id} and headline["judge_sae_id"] == judge_id
    assert f"independent SAE {judge_id}" in headline["judge"]
    assert (
        methods["sae"] == methods["control:sae"] == 4 * methods["none"]
        and methods["none"] == headline["n_queries"] >= 4
    )
    assert (
        headline["rewrite_method"] is None and headline["wilcoxon_p"] is None and headline["sae_beats_rewrite"] is None
    )
    assert headline["matched_cos"] == 0.8 and 0 <= headline["up_success_sae"] <= 1
    plots = artifacts_dir() / "steering"
    assert (plots / f"astro_sae{steered}_pareto.html").stat().st_size > 100_000
    assert (plots / f"astro_sae{steered}_pareto.png").read_bytes()[:4] == b"\x89PNG"
    # a second run reuses the stored judge instead of training another
    assert cli.main(["bench", "astro", "--warehouse", str(path), "--config", str(config)]) == 0
    assert "training the judge SAE" not in capsys.readouterr().out
    with open_reader(path) as con:
        assert con.execute("SELECT count(*) FROM saes").fetchall()[0][0] == len(trained_astro_copy.sae_ids) + 1


def label_every_latent_with_its_top_title(path, sae_id: int) -> None:
    """Stand-in labels (the title of each latent's strongest document), written like interp's rows."""
    with open_writer(path) as con:
        con.execute(
            """
            INSERT INTO interpretations
                (sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, status, created_at)
            SELECT a.sae_id, a.latent, 'top-title', 'none', true, arg_max(d.title, a.value), 0.5, 0.5, 'complete', now()
            FROM activations a JOIN docs d USING (doc_id) WHERE a.sae_id = ? GROUP BY a.sae_id, a.latent
            """,
            [sae_id],
        )


def fake_llm(request):
    prompt = request["messages"][-1]["content"]
    if "Candidate topics" in prompt:
        return "Both sets are about stars.\nFINAL: 1, 2"
    query = prompt.split("Original query: ", 1)[1].split("\n", 1)[0]
    topic = prompt.split('Add the topic "', 1)[1].split('"', 1)[0]
    return f"FINAL: {query} and {topic}"


def test_steer_bench_cli_with_a_key_rewrites_and_judges_via_the_llm(
    trained_astro_copy, tmp_path, fake_openai, monkeypatch, capsys
):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    label_every_latent_with_its_top_title(path, sae_id)
    fake_openai.chat = fake_llm
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    config = tmp_path / "steering.yaml"
    config.write_text(
        "up_strengths: [1.0, 2.5]\ndown_strengths: [-1.0]\nn_queries: 5\njudge_settings: [[1.0, -1.0]]\n"
        "paired_path: [[1.0, -1.0], [2.5, -1.0]]\njudge_min_cos: 0.1\n"
    )
    judge_sae = str(trained_astro_copy.sae_ids[1])  # another stored SAE as the judge: no training here
    assert (
        cli.main(
            [
                "bench",
                "astro",
                "--warehouse",
                str(path),
                "--config",
                str(config),
                "--sae-id",
                str(sae_id),
                "--judge_sae_id",
                judge_sae,
                "--judge",
                "true",
            ]
        )
        == 0
    )
    assert "rewrite-llm" in capsys.readouterr().out
    with open_reader(path) as con:
        rows = con.execute("SELECT method, judge FROM steering_results ORDER BY method").fetchall()
        cached = con.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0]
    methods = [method for method, _ in rows]
    assert methods.count("rewrite-llm") == methods.count("sae") // 2 == methods.count("none") >= 4
    judged = [json.loads(judge) for method, judge in rows if method in ("rewrite-llm", "sae")]
    assert all(verdict["llm"]["answer"].endswith("FINAL: 1, 2") for verdict in judged if "llm" in verdict)
    assert sum("llm" in verdict for verdict in judged) == 2 * methods.count("none")  # every rewrite + (1, -1)
    assert cached == len(fake_openai.requests["chat"]) > 0  # every answer is in the persistent cache


HONEST = {
    "n_queries": 16,
    "up_strengths": [0.5, 1.0, 2.5],
    "down_strengths": [0.0, -1.0, -2.5],
    "paired_path": [[0.5, -1.0], [1.0, -1.0], [2.5, -2.5]],
}


def random_directions(search, q, choice, u, d):
    """The deliberately useless intervention: random directions as long as the features' decoder rows."""
    rng = np.random.default_rng([choice.up, choice.down])
    W = search.sae.W_dec.detach().numpy()
    up, down = rng.standard_normal((2, len(q)))
    up *= np.linalg.norm(W[choice.up]) / np.linalg.norm(up)
    down *= np.linalg.norm(W[choice.down]) / np.linalg.norm(down)
    return (q + u * up - abs(d) * down).astype(np.float32)


def test_a_useless_intervention_reports_no_success_where_the_feature_does(trained_astro_copy, trained_search):
    path = trained_astro_copy.path
    label_every_latent_with_its_top_title(path, trained_search.info.sae_id)
    with open_reader(path) as con:
        catalog = load_catalog(con, trained_search.info.sae_id, trained_search.info.n_latents)
        queries = default_queries(con, seed=0)
    # the most lenient judge (the steering SAE itself): even it must not credit a random direction
    evidence = evidence_from(path, trained_search)
    config = SteeringBenchConfig(**HONEST)

    def offline(requests):
        return [offline_rewrite(r) for r in requests]

    real = summarise(
        run_benchmark(trained_search, queries, catalog, evidence, config, offline, "rewrite-offline"), config
    )["headline"]
    useless_run = run_benchmark(
        trained_search, queries, catalog, evidence, config, offline, "rewrite-offline", intervention=random_directions
    )
    useless = summarise(useless_run, config)["headline"]

    assert real["n_queries"] == useless["n_queries"] == 16
    assert real["sae_beats_control"] and real["up_success_sae"] > real["up_success_control"] + 0.15
    assert real["down_success_net_sae"] > useless["down_success_net_sae"] + 0.1
    assert useless["sae_beats_control"] is False and useless["sae_beats_rewrite"] is False
    assert abs(useless["up_success_sae"] - useless["up_success_control"]) < 0.1
    assert useless["down_success_net_sae"] < 0.1

    # every steered row has a control row at the same cos(q, q')
    rows = {(r["method"], r["query"], r["u"], r["d"]): r for r in useless_run.rows}
    controls = [
        (r, rows["control:" + r["method"], r["query"], r["u"], r["d"]])
        for r in useless_run.rows
        if r["method"] in ("sae", "rewrite-offline")
    ]
    assert len(controls) == 16 * 10
    assert all(abs(r["cos_qq"] - c["cos_qq"]) < 1e-5 for r, c in controls)
    assert any(r["cos_qq"] < 0.7 for r, _ in controls)

    # the up feature is relevant: on >= up_min_docs of ranks 11-100, on none of the top 10, not on the query
    for row in [r for r in useless_run.rows if r["method"] == "none"][:5]:
        q = trained_search.embed(row["query"])
        assert row["up_latent"] not in trained_search.encode(q).latents
        hood = trained_search.search(q, config.neighbourhood).doc_ids
        codes = evidence.doc_latents([int(doc) for doc in hood])
        assert sum(row["up_latent"] in codes[int(doc)] for doc in hood[10:]) >= config.up_min_docs
        assert not any(row["up_latent"] in codes[int(doc)] for doc in hood[:10])
