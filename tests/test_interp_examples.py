"""Example selection on a small in-memory corpus: disjoint sets, quantile coverage, edge cases."""
from __future__ import annotations

import numpy as np

from evals.interp.config import ExampleConfig
from evals.interp.examples import (READY, TOO_FEW_ACTIVE, TOO_FEW_INACTIVE, Corpus, group_activations,
                                   select_examples)


def small_corpus(n_docs: int = 400, dim: int = 16) -> Corpus:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n_docs, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    eligible = np.ones(n_docs, dtype=bool)
    eligible[25::50] = False  # short abstracts are never examples
    return Corpus(np.arange(1000, 1000 + n_docs), vectors, [f"doc {i}" for i in range(n_docs)], eligible)


def test_sets_are_disjoint_stratified_and_edge_cases_are_flagged():
    corpus = small_corpus()
    # latent 0: active on docs 0..99 with decreasing values; latent 1: only 12 docs; latent 2: almost all docs.
    latent = np.r_[np.zeros(100), np.ones(12), np.full(395, 2)].astype(int)
    doc_index = np.r_[np.arange(100), np.arange(200, 212), np.arange(395)]
    value = np.r_[np.linspace(10, 1, 100), np.ones(12), np.ones(395)]
    activations = group_activations(latent, corpus.doc_ids[doc_index], value, 3, corpus.doc_ids)
    config = ExampleConfig()
    examples = select_examples(corpus, activations, np.arange(3), config, extra_positives=4)
    assert examples.status == {0: READY, 1: TOO_FEW_ACTIVE, 2: TOO_FEW_INACTIVE}

    def docs(*roles):
        return examples.doc_index[examples.of(0, *roles)]

    explain = docs("explain_pos", "explain_extra_pos", "explain_neg_random", "explain_neg_hard")
    held_out = docs("score_pos", "score_neg_random", "score_neg_hard")
    assert not set(explain) & set(held_out) and len(set(held_out)) == 20
    assert len(docs("explain_pos")) == 10 and len(docs("explain_extra_pos")) == 4
    assert {0, 1, 2, 3, 4} <= set(docs("explain_pos"))  # the top of the ranking is explained
    positives = docs("score_pos")
    assert np.all(positives < 100) and np.all(corpus.eligible[positives])
    # stratified: two held-out positives from each fifth of the (eligible) ranking below the top 5
    ranking = [d for d in range(100) if corpus.eligible[d]]
    ranks = np.array([ranking.index(d) for d in positives])
    bins = np.array_split(np.arange(5, len(ranking)), 5)
    assert [int(np.isin(ranks, b).sum()) for b in bins] == [2, 2, 2, 2, 2]
    negatives = docs("score_neg_random", "score_neg_hard", "explain_neg_random", "explain_neg_hard")
    assert np.all(negatives >= 100) and np.all(corpus.eligible[negatives])
    # hard negatives are nearer the positives' mean than random ones, on average
    centroid = corpus.embeddings[docs("explain_pos")].mean(axis=0)
    hard = corpus.embeddings[docs("score_neg_hard", "explain_neg_hard")] @ centroid
    random = corpus.embeddings[docs("score_neg_random", "explain_neg_random")] @ centroid
    assert hard.mean() > random.mean()
    again = select_examples(corpus, activations, np.arange(3), config, extra_positives=4)
    assert np.array_equal(again.doc_index, examples.doc_index)


def test_quantile_sampling_spreads_explanation_positives_over_the_activation_range():
    from evals.interp.config import ExampleConfig
    from evals.interp.examples import select_positives

    top = select_positives(200, ExampleConfig(), np.random.default_rng(0))["explain_pos"]
    spread = select_positives(200, ExampleConfig(explain_sampling="quantiles"), np.random.default_rng(0))["explain_pos"]
    assert len(top) == len(spread) == 10
    assert list(top[:5]) == [0, 1, 2, 3, 4]  # the absolute top first ...
    assert (spread < 40).sum() <= 3 and spread.max() >= 160  # ... or every quantile bin alike
