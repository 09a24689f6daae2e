"""Example selection on a small in-memory corpus: split-respecting, disjoint sets, quantile coverage, edge cases."""

from __future__ import annotations

import numpy as np

from evals.interp.config import ExampleConfig
from evals.interp.examples import READY, TOO_FEW_ACTIVE, TOO_FEW_INACTIVE, Corpus, group_activations, select_examples

EXPLAIN_ROLES = ("explain_pos", "explain_extra_pos", "explain_neg_random", "explain_neg_hard")
SCORE_ROLES = ("score_pos", "score_neg_random", "score_neg_hard")


def small_corpus(n_docs: int = 400, dim: int = 16) -> Corpus:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n_docs, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    eligible = np.ones(n_docs, dtype=bool)
    eligible[25::50] = False  # short abstracts are never examples
    in_test = np.arange(n_docs) % 4 == 3  # a quarter of the documents are the test split
    return Corpus(np.arange(1000, 1000 + n_docs), vectors, [f"doc {i}" for i in range(n_docs)], eligible, in_test)


def test_explanations_come_from_training_docs_and_held_out_sets_from_test_docs():
    corpus = small_corpus()
    # latent 0: active on docs 0..99 with decreasing values; latent 1: 12 docs (3 of them test);
    # latent 2: almost all docs.
    latent = np.r_[np.zeros(100), np.ones(12), np.full(395, 2)].astype(int)
    doc_index = np.r_[np.arange(100), np.arange(200, 212), np.arange(395)]
    value = np.r_[np.linspace(10, 1, 100), np.ones(12), np.ones(395)]
    activations = group_activations(latent, corpus.doc_ids[doc_index], value, 3, corpus.doc_ids)
    config = ExampleConfig()
    examples = select_examples(corpus, activations, np.arange(3), config, extra_positives=4)
    assert examples.status == {0: READY, 1: TOO_FEW_ACTIVE, 2: TOO_FEW_INACTIVE}

    def docs(*roles):
        return examples.doc_index[examples.of(0, *roles)]

    explain, held_out = docs(*EXPLAIN_ROLES), docs(*SCORE_ROLES)
    assert not corpus.in_test[explain].any()  # no explanation example is a test document
    assert corpus.in_test[held_out].all()  # every held-out example is one
    assert len(set(held_out)) == 20 and len(docs("explain_pos")) == 10 and len(docs("explain_extra_pos")) == 4
    assert {0, 1, 2, 4, 5} <= set(docs("explain_pos"))  # the top of the training ranking is explained
    positives = docs("score_pos")
    assert np.all(positives < 100) and np.all(corpus.eligible[positives])
    # stratified: two held-out positives from each fifth of the feature's (eligible) test ranking
    ranking = [d for d in range(100) if corpus.eligible[d] and corpus.in_test[d]]
    ranks = np.array([ranking.index(d) for d in positives])
    bins = np.array_split(np.arange(len(ranking)), 5)
    assert [int(np.isin(ranks, b).sum()) for b in bins] == [2, 2, 2, 2, 2]
    negatives = docs("score_neg_random", "score_neg_hard", "explain_neg_random", "explain_neg_hard")
    assert np.all(negatives >= 100) and np.all(corpus.eligible[negatives])
    # hard negatives are nearer the explanation positives' mean than random ones, in each split
    centroid = corpus.embeddings[docs("explain_pos")].mean(axis=0)
    for hard, random in (("score_neg_hard", "score_neg_random"), ("explain_neg_hard", "explain_neg_random")):
        assert (corpus.embeddings[docs(hard)] @ centroid).mean() > (corpus.embeddings[docs(random)] @ centroid).mean()
    again = select_examples(corpus, activations, np.arange(3), config, extra_positives=4)
    assert np.array_equal(again.doc_index, examples.doc_index)


def test_a_feature_with_too_few_test_activations_is_not_scored():
    corpus = small_corpus()
    # 40 training docs active, but only 4 test docs (below min_score_positives = 5)
    train_docs = np.flatnonzero(~corpus.in_test & corpus.eligible)[:40]
    test_docs = np.flatnonzero(corpus.in_test & corpus.eligible)[:4]
    docs = np.r_[train_docs, test_docs]
    activations = group_activations(
        np.zeros(len(docs), dtype=int), corpus.doc_ids[docs], np.linspace(5, 1, len(docs)), 1, corpus.doc_ids
    )
    assert select_examples(corpus, activations, np.arange(1), ExampleConfig()).status == {0: TOO_FEW_ACTIVE}
    fewer = ExampleConfig(min_score_positives=4)
    examples = select_examples(corpus, activations, np.arange(1), fewer)
    assert examples.status == {0: READY}
    assert set(examples.doc_index[examples.of(0, "score_pos")]) == set(test_docs)


def test_quantile_sampling_spreads_explanation_positives_over_the_activation_range():
    from evals.interp.config import ExampleConfig
    from evals.interp.examples import select_positives

    top = select_positives(200, 20, ExampleConfig(), np.random.default_rng(0))["explain_pos"]
    spread = select_positives(200, 20, ExampleConfig(explain_sampling="quantiles"), np.random.default_rng(0))[
        "explain_pos"
    ]
    assert len(top) == len(spread) == 10
    assert list(top[:5]) == [0, 1, 2, 3, 4]  # the absolute top first ...
    assert (spread < 40).sum() <= 3 and spread.max() >= 150  # ... or every quantile bin alike
