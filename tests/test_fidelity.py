"""Retrieval fidelity metrics on the real astro vectors."""
from __future__ import annotations

import numpy as np
import pytest

from data.embeddings import load_embeddings
from data.warehouse import open_reader
from evals.fidelity import FidelityConfig, held_out_rows, retrieval_fidelity
from tests.steering_helpers import MINILM


@pytest.fixture(scope="module")
def astro_vectors(astro_warehouse_template):
    with open_reader(astro_warehouse_template) as con:
        return load_embeddings(con, MINILM)[1]


def test_perfect_reconstruction_scores_one_and_noise_degrades_monotonically(astro_vectors):
    rows = held_out_rows(len(astro_vectors), FidelityConfig(n_queries=200))
    assert len(rows) == 200 and len(set(rows.tolist())) == 200
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
