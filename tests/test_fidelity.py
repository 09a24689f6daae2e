"""Retrieval fidelity metrics on the real astro vectors."""

from __future__ import annotations

import numpy as np
import pytest

from data.embeddings import load_embeddings
from data.warehouse import open_reader
from evals.fidelity import FidelityConfig, fidelity_of_test_queries, query_rows, retrieval_fidelity
from tests.steering_helpers import MINILM


@pytest.fixture(scope="module")
def astro_vectors(astro_warehouse_template):
    with open_reader(astro_warehouse_template) as con:
        return load_embeddings(con, MINILM)[1]


def test_perfect_reconstruction_scores_one_and_noise_degrades_monotonically(astro_vectors):
    rows = query_rows(np.arange(0, len(astro_vectors), 10), FidelityConfig(n_queries=200))
    assert len(rows) == 200 and len(set(rows.tolist())) == 200 and np.all(rows % 10 == 0)
    perfect = retrieval_fidelity(astro_vectors, astro_vectors, rows)
    assert perfect.recall == pytest.approx(1.0) and perfect.ndcg == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    scores = []
    for noise in (0.01, 0.03, 0.1):
        noisy = astro_vectors + noise * rng.standard_normal(astro_vectors.shape).astype(np.float32)
        scores.append(retrieval_fidelity(astro_vectors, noisy, rows))
    recalls = [s.recall for s in scores]
    assert 1.0 > recalls[0] > recalls[1] > recalls[2]
    assert all(0 <= s.ndcg <= 1 for s in scores)
    shuffled = astro_vectors[rng.permutation(len(astro_vectors))]
    assert retrieval_fidelity(astro_vectors, shuffled, rows).recall < 0.01


def test_ndcg_rewards_order_and_recall_does_not():
    # 12 one-hot-ish docs: query 0 ranks docs by construction; the reconstruction reverses the top 10
    rng = np.random.default_rng(1)
    base = rng.standard_normal(32).astype(np.float32)
    original = np.stack([base + 0.05 * i * rng.standard_normal(32).astype(np.float32) for i in range(12)])
    query_rows = np.array([0])
    reference_order = np.argsort(-(original[1:] @ original[0] / np.linalg.norm(original[1:], axis=1)))[:10] + 1
    reconstructed = original.copy()
    # reverse the order of the reference top 10 by swapping their vectors
    reconstructed[reference_order] = original[reference_order[::-1]]
    scores = retrieval_fidelity(original, reconstructed, query_rows)
    assert scores.recall == pytest.approx(1.0)
    assert scores.ndcg < 0.95


def test_a_query_never_finds_itself_and_test_only_search_stays_in_the_test_rows():
    rng = np.random.default_rng(2)
    original = rng.standard_normal((60, 8)).astype(np.float32)
    test_rows = np.arange(0, 60, 3)
    # the reconstruction is perfect on test rows and noise elsewhere: only the test-only search is perfect
    reconstructed = rng.standard_normal(original.shape).astype(np.float32)
    reconstructed[test_rows] = original[test_rows]
    every, tests_only = fidelity_of_test_queries(original, reconstructed, test_rows, test_rows)
    assert (every.searched, tests_only.searched) == ("all", "test") and every.n_queries == 20
    assert tests_only.recall == pytest.approx(1.0) and tests_only.ndcg == pytest.approx(1.0)
    assert every.recall < 0.9
    # a query's own row would be its perfect first hit: searched over itself only, nothing is found but others
    assert retrieval_fidelity(original, original, test_rows, top=5).recall == pytest.approx(1.0)
