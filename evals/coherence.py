"""Feature coherence: do a feature's strongest documents talk about the same thing?

A feature's coherence is the mean pairwise cosine of its top-``top`` documents' embeddings after
subtracting the mean embedding of the pool they are drawn from (centring removes what every
abstract shares, so 10 random documents score about 0 and a document with its 9 nearest neighbours
about 0.3-0.45 on the astro data).

- ``feature_coherence``: every feature over all documents, from the warehouse (`just sweep`'s
  ranking); features firing on fewer than 2 documents have none (NaN).
- ``pool_coherence`` with ``random_sets`` and ``neighbour_sets``: features over one pool of
  documents (the test split, for `just report`), with the scale of that pool beside them.
"""

from __future__ import annotations

import duckdb
import numpy as np
import scipy.sparse

from data.embeddings import load_embeddings


def centred_unit(x: np.ndarray) -> np.ndarray:
    z = x - x.mean(axis=0)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def mean_pairwise_cosine(sums: np.ndarray, m) -> np.ndarray:
    """Mean cosine over the distinct pairs of m unit vectors (m: one count or one per set), from their sum:
    (|s|^2 - m) / (m (m - 1)), since the pairs i != j sum to |sum v|^2 - sum |v|^2."""
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


def pool_coherence(z: np.ndarray, codes: scipy.sparse.csr_matrix, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(latents scored, their coherence) over the rows of ``z`` (centred unit embeddings) and ``codes``."""
    latents, top = top_documents(codes, m)
    members = scipy.sparse.csr_matrix(
        (np.ones(top.size, dtype=np.float32), top.reshape(-1), np.arange(0, top.size + 1, m)),
        shape=(len(latents), len(z)),
    )
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


def feature_coherence(
    con: duckdb.DuckDBPyConnection, sae_id: int, embed_model: str, n_latents: int, top: int = 10
) -> np.ndarray:
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
    centred = centred_unit(matrix)
    latents = rows["latent"].astype(np.int64)
    counts = np.bincount(latents, minlength=n_latents)
    # (n_latents, top) table of row numbers into `centred`, padded with -1
    table = np.full((n_latents, top), -1, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    table[latents, np.arange(len(latents)) - starts[latents]] = np.searchsorted(doc_ids, rows["doc_id"])
    vectors = np.where((table >= 0)[..., None], centred[table.clip(0)], 0.0)  # (n_latents, top, d)
    members = counts.clip(max=top)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(members >= 2, mean_pairwise_cosine(vectors.sum(axis=1), members), np.nan)
