"""The offline proxy scorer: predict a held-out abstract's activation from a label, without an LLM.

Three similarity measures between a label and an abstract:
- ``embedding``: cosine between the label's embedding (local MiniLM) and the abstract's stored
  embedding (usable when the corpus was embedded with that same model);
- ``terms``: the term match of ``evals.interp.phrases`` (the share of the label's words the
  abstract holds, idf-weighted), as a person skimming for the label's words would;
- ``hybrid`` (default): cosine + ``term_weight`` x term match. The cosine ranks abstracts by topic,
  the term match separates the abstracts that are about the label from their near neighbours.
A similarity becomes a rating in [-1, 1] by calibrating on the feature's *explanation* examples
only: 0 halfway between their positive and negative mean similarity, +-0.76 (tanh 1) at those
means. The held-out examples never influence their own ratings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data.embed import Embedder
from evals.interp.examples import ROLE_CODE, Corpus, ExampleSet, derangement
from evals.interp.phrases import PhraseIndex

SCORERS = ("hybrid", "embedding", "terms")
PREDICTOR_NAMES = {
    "hybrid": "proxy-embedding+terms",
    "embedding": "proxy-embedding-cosine",
    "terms": "proxy-term-match",
}
EXPLAIN_POSITIVE = [ROLE_CODE["explain_pos"], ROLE_CODE["explain_extra_pos"]]
EXPLAIN_NEGATIVE = [
    ROLE_CODE[r]
    for r in ("explain_neg_random", "explain_neg_hard", "explain_extra_neg_random", "explain_extra_neg_hard")
]


@dataclass
class LabelScorer:
    """Similarities of label texts and corpus documents under one of ``SCORERS``."""

    scorer: str
    corpus: Corpus
    index: PhraseIndex
    embedder: Embedder | None = None
    """Needed by 'embedding' and 'hybrid' (the corpus's own embedding model)."""
    term_weight: float = 0.5
    _embedded: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    """Label text -> embedding, so a label re-scored later is not embedded twice."""

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown offline scorer {self.scorer!r}; use one of {SCORERS}")

    def vectors(self, labels: list[str]):
        """What ``similarities`` needs of each label: (embeddings or None, term weights)."""
        embedded = None
        if self.scorer != "terms":
            new = sorted({label for label in labels if label not in self._embedded})
            if new:
                if self.embedder is None:
                    raise ValueError(f"the {self.scorer!r} scorer needs the corpus's embedding model; pass an embedder")
                self._embedded.update(zip(new, self.embedder.embed(new), strict=False))
            embedded = np.stack([self._embedded[label] for label in labels]) if labels else np.zeros((0, 0), np.float32)
        return embedded, self.index.label_weights(labels)

    def remember(self, labels: list[str], embedded: np.ndarray) -> None:
        """Embeddings of ``labels`` computed elsewhere (e.g. a cache), so ``vectors`` does not embed them again."""
        self._embedded.update(zip(labels, embedded, strict=False))

    @property
    def term_factor(self) -> float:
        """The term match's weight in a similarity: all of it (terms), ``term_weight`` (hybrid), none (embedding)."""
        return {"terms": 1.0, "hybrid": self.term_weight, "embedding": 0.0}[self.scorer]

    def similarity_matrix(self, vectors, doc_index: np.ndarray) -> np.ndarray:
        """(len(doc_index), n_labels): ``similarities`` of every document with every label."""
        embedded, weights = vectors
        total = np.zeros((len(doc_index), weights.shape[1]))
        if self.scorer != "terms":
            total += self.corpus.embeddings[doc_index] @ embedded.T
        if self.term_factor:
            total += self.term_factor * (self.index.word_docs[doc_index] @ weights).toarray()
        return total

    def similarities(self, vectors, label_rows: np.ndarray, doc_index: np.ndarray) -> np.ndarray:
        """Similarity of label ``label_rows[i]`` and document ``doc_index[i]``, for every i."""
        embedded, weights = vectors
        total = np.zeros(len(doc_index))
        if self.scorer != "terms":
            total += np.einsum("ij,ij->i", embedded[label_rows], self.corpus.embeddings[doc_index])
        if self.term_factor:
            total += self.term_factor * self.index.term_match(weights, label_rows, doc_index)
        return total

    def ratings(
        self, examples: ExampleSet, latents: np.ndarray, labels: list[str], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated ratings of every example of ``latents`` (aligned with ``examples``, NaN elsewhere)
        with their own ``labels``, and with borrowed ones: the other-label baseline, where feature i
        is rated with the label of a feature j != i (None with fewer than two features)."""
        if not len(latents):
            return np.full(len(examples.latent), np.nan), None
        vectors = self.vectors(labels)
        row_of = np.full(int(examples.latent.max()) + 1, -1)
        row_of[latents] = np.arange(len(latents))
        mine = row_of[examples.latent] >= 0
        label_rows = row_of[examples.latent[mine]]

        def rated(rows: np.ndarray) -> np.ndarray:
            out = np.full(len(examples.latent), np.nan)
            similarity = self.similarities(vectors, rows, examples.doc_index[mine])
            out[mine] = calibrated_ratings(similarity, examples.latent[mine], examples.role[mine])
            return out

        borrowed = derangement(len(latents), rng) if len(latents) > 1 else None
        return rated(label_rows), rated(borrowed[label_rows]) if borrowed is not None else None


def calibrated_ratings(similarity: np.ndarray, latent: np.ndarray, role: np.ndarray) -> np.ndarray:
    """Ratings in [-1, 1] per example, calibrated per latent on its explanation examples."""
    positive = np.isin(role, EXPLAIN_POSITIVE)
    negative = np.isin(role, EXPLAIN_NEGATIVE)
    _, group = np.unique(latent, return_inverse=True)
    pos_mean = _group_mean(similarity, group, positive)
    neg_mean = _group_mean(similarity, group, negative)
    middle = (pos_mean + neg_mean) / 2
    scale = np.maximum(np.abs(pos_mean - neg_mean) / 2, 1e-3)
    return np.tanh((similarity - middle[group]) / scale[group])


def _group_mean(values: np.ndarray, group: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = group.max() + 1 if len(group) else 0
    total = np.bincount(group[mask], weights=values[mask], minlength=n)
    count = np.bincount(group[mask], minlength=n)
    return total / np.maximum(count, 1)
