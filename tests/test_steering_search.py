"""SteerableSearch on the real astro embeddings: exactness, interventions, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evals.saes import UnknownSAE
from evals.steering.errors import DegenerateQuery, EmptyQuery, LatentOutOfRange, ModelMismatch, SteeringError
from evals.steering.index import DocumentIndex, make_scorer
from evals.steering.search import SteerableSearch
from tests.steering_helpers import MINILM, noisy_queries, untrained_search


@pytest.fixture(scope="module")
def search(astro_warehouse_template):
    return untrained_search(astro_warehouse_template)


def float32_top10(matrix: torch.Tensor, query: np.ndarray) -> set[int]:
    q = torch.from_numpy(query / np.linalg.norm(query)).float()
    return set(torch.topk(matrix @ q, 10).indices.tolist())


@pytest.mark.parametrize("coarse", ["int8", "float16"])
def test_fast_search_returns_the_float32_top10_on_real_and_steered_queries(search, coarse):
    search.index.scorer = make_scorer(search.index.exact, coarse)
    matrix = search.index.exact
    queries = noisy_queries(matrix.numpy(), 60, noise=0.02, seed=1)
    rng = np.random.default_rng(2)
    for query in queries:
        up, down = rng.choice(search.info.n_latents, 2, replace=False)
        steered = search.steer(query, up=[(int(up), 0.5)], down=[(int(down), -0.5)])
        for vector in (query, steered):
            hits = search.index.search(vector, 10)
            assert set(hits.rows.tolist()) == float32_top10(matrix, vector)
            assert np.all(np.diff(hits.scores) <= 1e-7)  # best first


@pytest.mark.parametrize("coarse", ["int8", "float16"])
def test_uncertified_queries_fall_back_to_a_full_scan_and_stay_exact(search, coarse):
    matrix = search.index.exact.numpy()
    tight = DocumentIndex(matrix, candidates=11, coarse=coarse)  # 10th vs 11th candidate: often closer than the bound
    queries = noisy_queries(matrix, 40, noise=0.05, seed=3)
    for query in queries:
        assert set(tight.search(query, 10).rows.tolist()) == float32_top10(search.index.exact, query)
    assert tight.fallbacks > 0


def test_search_maps_rows_to_doc_ids_and_finds_the_document_itself(search):
    row = 1234
    result = search.search(search.index.exact[row].numpy())
    assert result.doc_ids[0] == search.doc_ids[row]
    assert result.scores[0] == pytest.approx(1.0, abs=1e-5)
    assert len(result.doc_ids) == 10


def test_decoder_addition_follows_the_formula_and_ignores_the_down_sign(search):
    q = search.index.exact[7].numpy()
    W = search.sae.W_dec.detach().numpy()
    expected = q + 2.0 * W[5] - 1.5 * W[9]
    np.testing.assert_allclose(search.steer(q, up=[(5, 2.0)], down=[(9, -1.5)]), expected, atol=1e-6)
    np.testing.assert_allclose(search.steer(q, up=[(5, 2.0)], down=[(9, 1.5)]), expected, atol=1e-6)
    # strong up-steering pulls results towards documents where the up direction is large
    steered = search.search(search.steer(q, up=[(5, 10.0)]))
    plain = search.search(q)
    w5 = torch.from_numpy(W[5])
    rows = {int(d): i for i, d in enumerate(search.doc_ids)}

    def proj(ids) -> float:
        return float(np.mean([float(search.index.exact[rows[int(d)]] @ w5) for d in ids]))

    assert proj(steered.doc_ids) > proj(plain.doc_ids)


def test_clamping_with_the_error_term_preserves_what_is_not_clamped(search):
    q = search.index.exact[42].numpy()
    active = search.encode(q)
    assert len(active.latents) > 0 and np.all(np.diff(active.values) <= 0)
    strongest, value = int(active.latents[0]), float(active.values[0])
    # clamping a latent to its current value changes nothing
    np.testing.assert_allclose(search.clamp(q, {strongest: value}), q, atol=1e-5)
    # clamping it to zero removes exactly its decoder contribution
    W = search.sae.W_dec.detach().numpy()
    np.testing.assert_allclose(search.clamp(q, {strongest: 0.0}), q - value * W[strongest], atol=1e-5)
    # without the error term the query is replaced by the decoded code
    with torch.no_grad():
        values, indices = search.sae.encode(torch.from_numpy(q)[None])
        reconstruction = search.sae.decode(values, indices)[0].numpy()
    np.testing.assert_allclose(search.clamp(q, {strongest: value}, keep_error=False), reconstruction, atol=1e-5)


def test_bad_input_raises_typed_errors_naming_the_input(search, astro_warehouse):
    q = search.index.exact[0].numpy()
    with pytest.raises(LatentOutOfRange, match="768"):
        search.steer(q, up=[(768, 1.0)])
    with pytest.raises(LatentOutOfRange, match=r"\[-1\]"):
        search.clamp(q, {-1: 1.0})
    with pytest.raises(EmptyQuery):
        search.query_latents("   ")
    with pytest.raises(ModelMismatch, match="text-embedding-3-small"):
        search.search(q, model="text-embedding-3-small")
    with pytest.raises(ModelMismatch, match=r"\(1536,\)"):
        search.search(np.ones(1536, dtype=np.float32))
    with pytest.raises(DegenerateQuery):
        search.search(np.zeros(384, dtype=np.float32))
    with pytest.raises(SteeringError, match="top=0"):
        search.search(q, top=0)
    with pytest.raises(UnknownSAE, match="no complete SAE"):
        SteerableSearch(astro_warehouse, 99)


class OtherModelEmbedder:
    model = "text-embedding-3-small"

    def embed(self, texts):
        return np.ones((len(texts), 1536), dtype=np.float32)


def test_an_embedder_of_another_model_is_refused(astro_warehouse_template):
    with pytest.raises(ModelMismatch, match="text-embedding-3-small"):
        untrained_search(astro_warehouse_template, embedder=OtherModelEmbedder())


def test_a_title_query_embedded_with_the_corpus_model_finds_its_paper(search, astro_warehouse_template):
    from data.warehouse import open_reader

    with open_reader(astro_warehouse_template) as con:
        doc_id, title = con.execute("SELECT doc_id, title FROM docs ORDER BY doc_id LIMIT 1 OFFSET 500").fetchall()[0]
    assert search.embedder.model == MINILM
    latents = search.query_latents(title)
    assert 0 < len(latents.latents) <= search.info.k
    result = search.search(search.embed(title))
    assert doc_id in result.doc_ids.tolist()


@pytest.mark.parametrize("coarse", ["int8", "float16"])
def test_coarse_scores_stay_within_the_certified_bound(search, coarse):
    scorer = make_scorer(search.index.exact, coarse)
    assert scorer.name == coarse
    queries = noisy_queries(search.index.exact.numpy(), 20, noise=0.3, seed=5)
    for query in queries:
        q = torch.from_numpy(query / np.linalg.norm(query))
        scores, bound = scorer.scores(q)
        error = (scores.float() - search.index.exact @ q).abs().max().item()
        assert error <= bound and bound < 0.05
