"""A family's activation on each document, so a family is labelled and scored like one latent."""

from __future__ import annotations

import numpy as np


def family_activation(
    doc_ids: np.ndarray, latents: np.ndarray, values: np.ndarray, members: list[int], reduce: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(doc_ids, activation)`` of the documents where any member fires, sorted by doc id.

    ``reduce`` is ``max`` (the strongest member, comparable to a single latent's scale) or ``sum``
    (how much of the family is present).
    """
    if reduce not in ("max", "sum"):
        raise ValueError(f"family activation reduce must be 'max' or 'sum', not {reduce!r}")
    hit = np.isin(latents, np.asarray(members, dtype=latents.dtype))
    docs, inverse = np.unique(doc_ids[hit], return_inverse=True)
    activation = np.zeros(docs.size, dtype=np.float64)
    if reduce == "max":
        np.maximum.at(activation, inverse, values[hit].astype(np.float64))
    else:
        np.add.at(activation, inverse, values[hit].astype(np.float64))
    return docs, activation
