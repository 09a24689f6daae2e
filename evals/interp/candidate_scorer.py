"""Select-half scores of labels built from one feature's candidate phrases (the offline labeller's inner loop).

A label of several phrases is judged by the normalised sum of its phrases' vectors plus the term match
of their words together, so only the labels that are shortlisted need their joined text embedded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from evals.interp.metrics import column_aurocs
from evals.interp.phrases import PhraseIndex
from evals.interp.proxy import LabelScorer

if TYPE_CHECKING:  # phrase_labels uses this module: the type only, no import cycle
    from evals.interp.phrase_labels import ExplanationDocs


class CandidateScorer:
    """Select-half scores of labels made of one feature's candidate phrases, without embedding the joined text."""

    def __init__(
        self,
        index: PhraseIndex,
        scorer: LabelScorer,
        phrase_vectors,
        rows: list[int],
        word_sets: list[frozenset[int]],
        docs: ExplanationDocs,
    ) -> None:
        embedded, _ = phrase_vectors
        self.word_sets = word_sets
        all_docs = np.r_[docs.positives, docs.random, docs.hard]
        self.n_pos, self.n_random = len(docs.positives), len(docs.random)
        self.index = index
        self.words = np.array(sorted(frozenset().union(*word_sets)), dtype=np.int64)
        self.local = {w: i for i, w in enumerate(self.words.tolist())}
        self.present = index.word_docs[all_docs][:, self.words].toarray()  # (docs, words)
        self.term_factor = scorer.term_factor
        # (phrases, d) and (docs, d) for the cosine part; None under the term-only scorer
        self.phrase_vectors = None if embedded is None else embedded[rows]
        self.doc_vectors = None if embedded is None else scorer.corpus.embeddings[all_docs]

    def held_margin(self) -> np.ndarray:
        """Per phrase: the share of positives holding all its words minus that of the negatives (mean of
        random and hard)."""
        held = np.stack(
            [self.present[:, [self.local[w] for w in words]].all(axis=1) for words in self.word_sets], axis=1
        )
        random = held[self.n_pos : self.n_pos + self.n_random].mean(axis=0)
        hard = held[self.n_pos + self.n_random :].mean(axis=0)
        return held[: self.n_pos].mean(axis=0) - (random + hard) / 2

    def scores(self, labels: list[tuple[int, ...]]) -> np.ndarray:
        """Mean AUROC (random, hard) of each label, a tuple of phrase positions."""
        similarity = np.zeros((len(self.present), len(labels)))
        if self.term_factor:
            unions = [frozenset().union(*(self.word_sets[m] for m in members)) for members in labels]
            weights = self.index.word_set_weights(unions)[self.words].toarray()  # (the feature's words, labels)
            similarity += self.term_factor * (self.present @ weights)
        if self.phrase_vectors is not None and self.doc_vectors is not None:
            summed = np.stack([self.phrase_vectors[list(members)].sum(axis=0) for members in labels])
            summed /= np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)
            similarity += self.doc_vectors @ summed.T
        positive = similarity[: self.n_pos]
        return (
            column_aurocs(positive, similarity[self.n_pos : self.n_pos + self.n_random])
            + column_aurocs(positive, similarity[self.n_pos + self.n_random :])
        ) / 2
