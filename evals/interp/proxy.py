"""The offline proxy scorer: predict a held-out abstract's activation from a keyword label.

Two similarity measures between a label and an abstract:
- ``embedding``: cosine between the label's embedding (local MiniLM) and the abstract's stored
  embedding (usable when the corpus was embedded with that same model);
- ``terms``: TF-IDF term matching (the label's idf-weighted terms against the abstract's TF-IDF).
A similarity becomes a rating in [-1, 1] by calibrating on the feature's *explanation* examples
only: 0 halfway between their positive and negative mean similarity, +-0.76 (tanh 1) at those
means. The held-out examples never influence their own ratings.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from evals.interp.examples import ROLE_CODE, Corpus
from evals.interp.keywords import TfidfIndex, label_text

SCORERS = ("embedding", "terms")
PREDICTOR_NAMES = {"embedding": "proxy-embedding-cosine", "terms": "proxy-term-match"}


def label_vectors(scorer: str, labels: list[list[str]], index: TfidfIndex | None = None, embedder=None):
    """One vector per label: dense (embedding) or sparse TF-IDF (terms)."""
    if scorer == "embedding":
        return embedder.embed([label_text(terms) or "(no label)" for terms in labels])
    if scorer == "terms":
        return index.vectorise(labels)
    raise ValueError(f"unknown offline scorer {scorer!r}; use one of {SCORERS}")


def similarities(scorer: str, vectors, label_rows: np.ndarray, doc_index: np.ndarray,
                 corpus: Corpus, index: TfidfIndex | None = None) -> np.ndarray:
    """Similarity of label ``vectors[label_rows[i]]`` and document ``doc_index[i]``, for every i."""
    if scorer == "embedding":
        return np.einsum("ij,ij->i", np.asarray(vectors)[label_rows], corpus.embeddings[doc_index])
    docs = index.matrix[doc_index]
    return np.asarray(sp.csr_matrix(vectors)[label_rows].multiply(docs).sum(axis=1)).ravel()


def similarity_matrix(scorer: str, vectors, doc_index: np.ndarray, corpus: Corpus,
                      index: TfidfIndex | None = None) -> np.ndarray:
    """(len(doc_index), n_labels): the same similarity as ``similarities``, for every document and label."""
    if scorer == "embedding":
        return corpus.embeddings[doc_index] @ np.asarray(vectors).T
    return np.asarray((index.matrix[doc_index] @ sp.csr_matrix(vectors).T).todense())


def calibrated_ratings(similarity: np.ndarray, latent: np.ndarray, role: np.ndarray) -> np.ndarray:
    """Ratings in [-1, 1] per example, calibrated per latent on its explanation examples."""
    positive = np.isin(role, [ROLE_CODE["explain_pos"], ROLE_CODE["explain_extra_pos"]])
    negative = np.isin(role, [ROLE_CODE["explain_neg_random"], ROLE_CODE["explain_neg_hard"]])
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
