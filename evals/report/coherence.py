"""The card's coherence section (evals/coherence.py): a feature's top documents among the test split.

The pool is the test split, documents no SAE trained on: a feature that memorised a cluster of
training abstracts gains nothing here. A feature active on fewer than ``m`` test documents is not
scored (and counted). The scale beside the median: ``m`` random test documents (the floor) and a
test document with its ``m - 1`` nearest test neighbours (about the most coherent any ``m``
documents of the pool are). For contrast, the median over all documents (training ones included,
the same ``m``-document rule) is reported too, named as such. A test split of fewer than ``m``
documents has no set of ``m`` to draw: those numbers are None (the card says why) instead of a
sampling error.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from evals.coherence import centred_unit, neighbour_sets, pool_coherence, random_sets


def coherence_section(
    embeddings: np.ndarray,
    codes: scipy.sparse.csr_matrix,
    in_test: np.ndarray,
    levels: np.ndarray | None,
    m: int,
    draws: int,
    seed: int,
) -> dict:
    test = np.flatnonzero(in_test)
    z = centred_unit(embeddings[test])
    latents, coherence = pool_coherence(z, codes[test], m)
    rng = np.random.default_rng(seed)
    _, everywhere = pool_coherence(centred_unit(embeddings), codes, m)
    enough = len(test) >= m
    return {
        "coherence_top_docs": m,
        "coherence_median": _median(coherence),
        "coherence_random": _median(random_sets(z, m, draws, rng)) if enough else None,
        "coherence_neighbours": _median(neighbour_sets(z, m, draws, rng)) if enough else None,
        "coherence_features": int(len(latents)),
        "coherence_too_few_docs": int(codes.shape[1] - len(latents)),
        "coherence_median_all_docs": _median(everywhere),
        "coherence_by_level": None
        if levels is None
        else {
            str(level): {
                "median": _median(coherence[levels[latents] == level]),
                "features": int((levels[latents] == level).sum()),
            }
            for level in np.unique(levels[levels >= 0]).tolist()
        },
    }


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if len(values) else None
