"""The drift-matched control: the query turned towards an unrelated direction by the same angle.

Moving the query anywhere removes documents from its top 10, so "the down feature's documents are
gone" partly measures drift alone (the paper's grid: u = 2.5 without any down-steering already
scores ~0.97). For every steered query q' the control turns q towards a random other feature's
decoder direction until cos(q, q_control) = cos(q, q') exactly, and is searched and scored like q'.
Net success = success - control success: what the steering achieved beyond moving that far.
"""

from __future__ import annotations

import numpy as np


def turned_towards(query: np.ndarray, direction: np.ndarray, cos: float) -> np.ndarray:
    """The unit vector at cosine ``cos`` from ``query`` in the plane of ``query`` and ``direction``."""
    q = np.asarray(query, dtype=np.float64)
    q = q / np.linalg.norm(q)
    r = np.asarray(direction, dtype=np.float64) - (np.asarray(direction, dtype=np.float64) @ q) * q
    norm = np.linalg.norm(r)
    if norm < 1e-9:
        raise ValueError("the control direction is parallel to the query; draw another one")
    c = float(np.clip(cos, -1.0, 1.0))
    return (c * q + np.sqrt(1.0 - c * c) * (r / norm)).astype(np.float32)


def control_latent(n_latents: int, excluded: set[int], rng: np.random.Generator) -> int:
    """A seeded random latent outside ``excluded`` (the query's own, the up and the down latent)."""
    while True:
        latent = int(rng.integers(n_latents))
        if latent not in excluded:
            return latent
