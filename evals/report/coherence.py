"""Label-free feature coherence: do a feature's top documents mean the same thing?

Per feature: the mean pairwise cosine of the *centred* embeddings (the pool's mean removed, so the
direction every abstract of the corpus shares does not count as agreement) of its top ``m``
documents by activation. The pool is the test split, documents no SAE trained on: a feature that
memorised a cluster of training abstracts gains nothing here. A feature active on fewer than ``m``
test documents is not scored (and counted). The scale beside it: the same number for ``m`` random
test documents (the floor) and for a test document with its ``m - 1`` nearest test neighbours
(about the most coherent any ``m`` documents of the pool are). For contrast, the median over all
documents (training ones included) is reported too, named as such.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse


def centred_unit(x: np.ndarray) -> np.ndarray:
    z = x - x.mean(axis=0)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def mean_pairwise_cosine(sums: np.ndarray, m: int) -> np.ndarray:
    """Mean cosine over the distinct pairs of m unit vectors, from their sum: (|s|^2 - m) / (m (m - 1))."""
    return (np.einsum("ij,ij->i", sums, sums) - m) / (m * (m - 1))


def top_documents(codes: scipy.sparse.csr_matrix, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The latents active on at least ``m`` rows, and (latents, m) their rows of highest activation."""
    coo = codes.tocoo()
    order = np.lexsort((-coo.data, coo.col))
    column, row = coo.col[order], coo.row[order]
    counts = np.bincount(column, minlength=codes.shape[1])
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    keep = (np.arange(len(column)) - starts[column] < m) & (counts[column] >= m)
    latents = np.flatnonzero(counts >= m)
    return latents, row[keep].reshape(len(latents), m)


def feature_coherence(z: np.ndarray, codes: scipy.sparse.csr_matrix, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(latents scored, their coherence) over the rows of ``z`` (centred unit embeddings) and ``codes``."""
    latents, top = top_documents(codes, m)
    members = scipy.sparse.csr_matrix((np.ones(top.size, dtype=np.float32), top.reshape(-1),
                                       np.arange(0, top.size + 1, m)), shape=(len(latents), len(z)))
    return latents, mean_pairwise_cosine(np.asarray(members @ z), m)


def random_sets(z: np.ndarray, m: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Coherence of ``draws`` sets of m distinct random rows."""
    sums = np.stack([z[rng.choice(len(z), m, replace=False)].sum(axis=0) for _ in range(draws)])
    return mean_pairwise_cosine(sums, m)


def neighbour_sets(z: np.ndarray, m: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Coherence of random anchor rows, each with its m - 1 nearest rows (by centred cosine)."""
    anchors = rng.choice(len(z), min(draws, len(z)), replace=False)
    similarity = z[anchors] @ z.T
    similarity[np.arange(len(anchors)), anchors] = np.inf  # the anchor itself is always in its set
    nearest = np.argpartition(-similarity, m - 1, axis=1)[:, :m]
    return mean_pairwise_cosine(z[nearest].sum(axis=1), m)


def coherence_section(embeddings: np.ndarray, codes: scipy.sparse.csr_matrix, in_test: np.ndarray,
                      levels: np.ndarray | None, m: int, draws: int, seed: int) -> dict:
    test = np.flatnonzero(in_test)
    z = centred_unit(embeddings[test])
    latents, coherence = feature_coherence(z, codes[test], m)
    rng = np.random.default_rng(seed)
    _, everywhere = feature_coherence(centred_unit(embeddings), codes, m)
    median = lambda values: float(np.median(values)) if len(values) else None  # noqa: E731
    return {
        "coherence_top_docs": m,
        "coherence_median": median(coherence),
        "coherence_random": median(random_sets(z, m, draws, rng)),
        "coherence_neighbours": median(neighbour_sets(z, m, draws, rng)),
        "coherence_features": int(len(latents)),
        "coherence_too_few_docs": int(codes.shape[1] - len(latents)),
        "coherence_median_all_docs": median(everywhere),
        "coherence_by_level": None if levels is None else {
            str(level): {"median": median(coherence[levels[latents] == level]),
                         "features": int((levels[latents] == level).sum())}
            for level in np.unique(levels[levels >= 0]).tolist()
        },
    }
