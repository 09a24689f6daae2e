"""Label-free coherence of a family: do the documents it fires on most mean the same thing?

The family's activation on a document is its strongest member's (``activation.family_activation``).
Its coherence is the mean pairwise cosine of the *centred* embeddings (the pool's mean removed, so
what every abstract shares does not count) of its top ``m`` test-split documents, the measure the
quality card uses for single features; NaN when the family fires on fewer than ``m`` of them.
"""
from __future__ import annotations

import numpy as np

from evals.cooccurrence import TopK
from evals.families.activation import family_activation
from evals.families.graph import Family


def centred_unit(x: np.ndarray) -> np.ndarray:
    z = x - x.mean(axis=0)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def mean_pairwise_cosine(unit: np.ndarray) -> float:
    """Mean cosine over the distinct pairs of the rows of ``unit`` (unit vectors), from their sum."""
    m = len(unit)
    total = unit.sum(axis=0)
    return float((total @ total - m) / (m * (m - 1)))


def family_coherence(topk: TopK, families: list[Family], test_doc_ids: np.ndarray, test_embeddings: np.ndarray,
                     m: int = 10) -> list[float]:
    """Per family, the coherence of its top ``m`` test documents (``test_doc_ids`` sorted)."""
    unit = centred_unit(test_embeddings)
    in_test = np.isin(topk.doc_ids, test_doc_ids)
    doc_ids, latents, values = topk.doc_ids[in_test], topk.latents[in_test], topk.values[in_test]
    found = []
    for family in families:
        docs, activation = family_activation(doc_ids, latents, values, [member.latent for member in family.members], "max")
        if len(docs) < m:
            found.append(float("nan"))
            continue
        top = docs[np.argsort(-activation, kind="stable")[:m]]
        found.append(mean_pairwise_cosine(unit[np.searchsorted(test_doc_ids, top)]))
    return found
