"""Steering, fidelity and their CLIs on the trainer's real SAEs (trained_astro: n = 768/1536/3072, k = 32)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from data.embeddings import load_embeddings
from data.settings import artifacts_dir
from data.warehouse import open_reader, open_writer
from evals import fidelity
from evals.fidelity import FidelityConfig, corpus_fidelity, reconstruct_documents
from evals.steering import cli
from evals.saes import UnknownSAE, complete_sae
from evals.steering.errors import LatentOutOfRange, ModelMismatch
from evals.steering.search import SteerableSearch
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
        direct = sae.decode(*sae.encode(torch.from_numpy(original[:200].copy()))).numpy()  # inference codes (BatchTopK: threshold)
    np.testing.assert_allclose(rebuilt[:200], direct, atol=2e-4)

    results = corpus_fidelity(path, "astro", FidelityConfig(n_queries=150))
    assert sorted(results) == sorted(trained_astro_copy.sae_ids)
    for scores in results.values():
        assert scores.n_queries == 150 and 0 < scores.recall < 1 and 0 < scores.ndcg < 1
    fidelity.main(["astro", "--warehouse", str(path), "--n-queries", "150"])  # re-run replaces, not appends
    with open_reader(path) as con:
        rows = con.execute("SELECT sae_id, n_queries, recall_at_10, ndcg_at_10 FROM fidelity ORDER BY sae_id").fetchall()
    assert [row[0] for row in rows] == sorted(trained_astro_copy.sae_ids)
    assert all(row[2] == pytest.approx(results[row[0]].recall) for row in rows)


def test_steer_bench_cli_end_to_end_without_labels(trained_astro_copy, tmp_path, capsys):
    config = tmp_path / "steering.yaml"
    config.write_text("up_strengths: [1.0, 10.0]\ndown_strengths: [0.0, -5.0]\nn_queries: 8\n")
    path = trained_astro_copy.path
    cli.main(["bench", "astro", "--warehouse", str(path), "--config", str(config)])
    printed = capsys.readouterr().out
    assert "rewrite: up feature has no label" in printed
    with open_reader(path) as con:
        methods = dict(con.execute("SELECT method, count(*) FROM steering_results GROUP BY method").fetchall())
        sae_ids = con.execute("SELECT DISTINCT sae_id FROM steering_results").fetchall()
        summary = json.loads(con.execute("SELECT summary FROM eval_summaries WHERE eval = 'steering'").fetchall()[0][0])
    assert sae_ids == [(max(trained_astro_copy.sae_ids),)]  # default: the corpus's largest SAE
    assert methods["sae"] == 4 * methods["none"] and methods["none"] >= 6
    assert summary["skipped"]["rewrite: up feature has no label"] == methods["none"]
    plots = artifacts_dir() / "steering"
    assert (plots / f"astro_sae{sae_ids[0][0]}_pareto.html").stat().st_size > 100_000
    assert (plots / f"astro_sae{sae_ids[0][0]}_pareto.png").read_bytes()[:4] == b"\x89PNG"


def label_every_latent_with_its_top_title(path, sae_id: int) -> None:
    """Stand-in labels (the title of each latent's strongest document), written like interp's rows."""
    with open_writer(path) as con:
        con.execute(
            """
            INSERT INTO interpretations (sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, status, created_at)
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


def test_steer_bench_cli_with_a_key_rewrites_and_judges_via_the_llm(trained_astro_copy, tmp_path, fake_openai, monkeypatch, capsys):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    label_every_latent_with_its_top_title(path, sae_id)
    fake_openai.chat = fake_llm
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    config = tmp_path / "steering.yaml"
    config.write_text("up_strengths: [1.0]\ndown_strengths: [-1.0]\nn_queries: 5\njudge_settings: [[1.0, -1.0]]\n")
    assert cli.main(["bench", "astro", "--warehouse", str(path), "--config", str(config), "--sae-id", str(sae_id), "--judge"]) == 0
    assert "rewrite-llm" in capsys.readouterr().out
    with open_reader(path) as con:
        rows = con.execute("SELECT method, judge FROM steering_results ORDER BY method").fetchall()
        cached = con.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0]
    methods = [method for method, _ in rows]
    assert methods.count("rewrite-llm") == methods.count("sae") == methods.count("none") >= 4
    assert all(json.loads(judge)["answer"].endswith("FINAL: 1, 2") for method, judge in rows if method != "none")
    assert cached == len(fake_openai.requests["chat"]) > 0  # every answer is in the persistent cache
