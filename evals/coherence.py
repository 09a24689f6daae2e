"""Feature coherence: do a feature's strongest documents talk about the same thing?

A feature's coherence is the mean pairwise cosine of its top-``top`` documents' embeddings after
subtracting the corpus mean embedding (centring removes what every abstract shares, so 10 random
documents score about 0 and a document with its 9 nearest neighbours about 0.45 on the astro data).
Features firing on fewer than 2 documents have none (NaN).
"""
from __future__ import annotations

import duckdb
import numpy as np

from data.embeddings import load_embeddings


def feature_coherence(con: duckdb.DuckDBPyConnection, sae_id: int, embed_model: str, n_latents: int, top: int = 10) -> np.ndarray:
    """(n_latents,) coherence of every feature of SAE ``sae_id``, from its stored activations."""
    rows = con.execute(
        """
        SELECT latent, doc_id FROM (
            SELECT latent, doc_id, row_number() OVER (PARTITION BY latent ORDER BY value DESC, doc_id) AS rank
            FROM activations WHERE sae_id = ?
        ) WHERE rank <= ? ORDER BY latent, rank
        """,
        [int(sae_id), int(top)],
    ).fetchnumpy()
    doc_ids, matrix = load_embeddings(con, embed_model)
    centred = matrix - matrix.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True).clip(1e-12)
    latents = rows["latent"].astype(np.int64)
    counts = np.bincount(latents, minlength=n_latents)
    # (n_latents, top) table of row numbers into `centred`, padded with -1
    table = np.full((n_latents, top), -1, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    table[latents, np.arange(len(latents)) - starts[latents]] = np.searchsorted(doc_ids, rows["doc_id"])
    vectors = np.where((table >= 0)[..., None], centred[table.clip(0)], 0.0)  # (n_latents, top, d)
    sums = vectors.sum(axis=1)
    # sum over pairs i != j of <v_i, v_j> = |sum v|^2 - sum |v|^2 (each |v| = 1)
    pair_sum = np.einsum("nd,nd->n", sums, sums) - counts.clip(max=top)
    pairs = counts.clip(max=top) * (counts.clip(max=top) - 1)
    return np.where(pairs > 0, pair_sum / np.maximum(pairs, 1), np.nan)
