"""Label-free coherence of a family: do the documents it fires on most mean the same thing?

The family's activation on a document is its strongest member's (``activation.family_activation``).
Its coherence is the mean pairwise cosine of the *centred* embeddings (the pool's mean removed, so
what every abstract shares does not count) of its top ``m`` test-split documents, the measure the
quality card uses for single features (``evals.coherence``); NaN when it fires on fewer than ``m`` of them.
"""

from __future__ import annotations

import numpy as np

from evals.coherence import centred_unit, mean_pairwise_cosine
from evals.cooccurrence import TopK
from evals.families.activation import family_activation
from evals.families.graph import Family


def family_coherence(
    topk: TopK, families: list[Family], test_doc_ids: np.ndarray, test_embeddings: np.ndarray, m: int = 10
) -> list[float]:
    """Per family, the coherence of its top ``m`` test documents (``test_doc_ids`` sorted)."""
    unit = centred_unit(test_embeddings)
    in_test = np.isin(topk.doc_ids, test_doc_ids)
    doc_ids, latents, values = topk.doc_ids[in_test], topk.latents[in_test], topk.stored_values[in_test]
    found = []
    for family in families:
        docs, activation = family_activation(
            doc_ids, latents, values, [member.latent for member in family.members], "max"
        )
        if len(docs) < m:
            found.append(float("nan"))
            continue
        top = docs[np.argsort(-activation, kind="stable")[:m]]
        found.append(
            float(mean_pairwise_cosine(unit[np.searchsorted(test_doc_ids, top)].sum(axis=0, keepdims=True), m)[0])
        )
    return found
