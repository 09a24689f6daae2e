"""Latent co-occurrence counts from stored top-k activations.

``C = AᵀA`` where ``A`` is the binary (document x latent) matrix of which latents are in each
document's top k; ``C[i, j]`` counts the documents where both fire and ``C[i, i]`` is latent i's
document count. scipy's sparse product takes ~16 s at the paper's scale (424k docs, k = 64,
n = 9216) on two cores and needs a symbolic pass plus a linked-list accumulator. Here the work is
done one row at a time: for latent i, gather the top-k lists of every document where i fires and
``np.bincount`` them into row i. numpy releases the GIL in these calls, so groups of rows run on
all cores in threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np
import scipy.sparse as sp

from evals.saes import complete_sae


@dataclass(frozen=True)
class TopK:
    """The stored activations of one SAE, as flat arrays (one entry per (document, latent)).

    The one in-memory form of the ``activations`` table: interp groups it by latent
    (``evals.interp.examples.Activations``); the trainer's ``SparseCodes`` is the encoder output it is written from.
    """

    doc_ids: np.ndarray
    """int32 document ids (``docs.doc_id``)."""
    latents: np.ndarray
    """int32 latent ids, ``0 <= latent < n_latents``."""
    n_latents: int
    values: np.ndarray | None = None
    """float32 activations, when asked for (``load_topk(..., with_values=True)``)."""

    @property
    def stored_values(self) -> np.ndarray:
        """``values``, or an error naming the fix when they were not loaded."""
        if self.values is None:
            raise ValueError("these activations were loaded without their values: use load_topk(..., with_values=True)")
        return self.values


def load_topk(con: duckdb.DuckDBPyConnection, sae_id: int, with_values: bool = False) -> TopK:
    """Read one SAE's (doc_id, latent[, value]) columns in one columnar fetch (no Python rows)."""
    n_latents = complete_sae(con, sae_id).n_latents
    columns = "doc_id, latent, value" if with_values else "doc_id, latent"
    # con.sql(...).to_arrow_table() streams columns straight to Arrow (execute() adds a row copy).
    table = con.sql(f"SELECT {columns} FROM activations WHERE sae_id = ?", params=[int(sae_id)]).to_arrow_table()
    if table.num_rows == 0:
        raise ValueError(f"SAE {sae_id} has no stored activations; encode the corpus first (`just train`)")
    doc_ids = table.column("doc_id").to_numpy().astype(np.int32, copy=False)
    latents = table.column("latent").to_numpy().astype(np.int32, copy=False)
    values = table.column("value").to_numpy().astype(np.float32, copy=False) if with_values else None
    return TopK(doc_ids, latents, n_latents, values)


def cooccurrence_counts(con: duckdb.DuckDBPyConnection, sae_id: int) -> sp.csr_array:
    """The symmetric (n x n) co-occurrence count matrix of one SAE's stored activations."""
    topk = load_topk(con, sae_id)
    return cooccurrence_from_pairs(topk.doc_ids, topk.latents, topk.n_latents)


def cooccurrence_from_pairs(
    doc_ids: np.ndarray,
    latents: np.ndarray,
    n_latents: int,
    workers: int | None = None,
    latents_per_task: int = 64,
    docs_per_bincount: int = 1 << 17,
) -> sp.csr_array:
    """``AᵀA`` (int32 CSR) for the binary matrix with a one at every (doc_ids[i], latents[i]).

    Row i of C is one ``np.bincount`` over the top-k lists of the documents where latent i fires:
    the gathered lists (int16 when n allows) and the (n + 1)-bin histogram stay in the L2 cache,
    so DRAM only serves the random top-k rows. ``latents_per_task`` latents form one thread task;
    a latent firing in more than ``docs_per_bincount`` documents is counted in chunks.
    """
    doc_ids = np.asarray(doc_ids)
    latents = np.asarray(latents)
    if doc_ids.shape != latents.shape:
        raise ValueError("doc_ids and latents must have the same length")
    if latents.size and (latents.min() < 0 or latents.max() >= n_latents):
        raise ValueError(f"latent ids must lie in [0, {n_latents}); got {latents.min()}..{latents.max()}")
    rows, by_latent_docs, latent_ptr = _both_layouts(doc_ids, latents, n_latents)
    width = n_latents + 1  # + the padding latent of documents with fewer than k entries

    def count_rows(first: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        stop = min(first + latents_per_task, n_latents)
        sizes, indices, data = np.zeros(stop - first, np.int64), [], []
        for latent in range(first, stop):
            begin, end = latent_ptr[latent], latent_ptr[latent + 1]
            counts = None
            for start in range(begin, end, docs_per_bincount):
                gathered = np.take(rows, by_latent_docs[start : min(start + docs_per_bincount, end)], axis=0)
                histogram = np.bincount(gathered.ravel(), minlength=width)
                counts = histogram if counts is None else counts + histogram
            if counts is None:
                continue
            others = np.flatnonzero(counts[:n_latents])
            sizes[latent - first] = others.size
            indices.append(others.astype(np.int32))
            data.append(counts[others].astype(np.int32))
        return sizes, indices, data

    workers = workers or len(os.sched_getaffinity(0))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(count_rows, range(0, n_latents, latents_per_task)))
    row_sizes = np.concatenate([p[0] for p in parts]) if parts else np.zeros(n_latents, np.int64)
    # int32 index arrays whenever they fit, as scipy would choose: no conversion copy of ~10^8 entries.
    index_dtype = np.int32 if row_sizes.sum() < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_latents + 1, dtype=index_dtype)
    np.cumsum(row_sizes, out=indptr[1:])
    index_parts = [i for p in parts for i in p[1]]
    data_parts = [d for p in parts for d in p[2]]
    indices = np.concatenate(index_parts).astype(index_dtype, copy=False) if index_parts else np.zeros(0, index_dtype)
    data = np.concatenate(data_parts) if data_parts else np.zeros(0, np.int32)
    return sp.csr_array((data, indices, indptr), shape=(n_latents, n_latents))


def _both_layouts(doc_ids: np.ndarray, latents: np.ndarray, n_latents: int):
    """Doc-major padded top-k lists (int16 when n + 1 fits: a quarter of the memory traffic) and
    the latent-major document lists (the CSC of A)."""
    compact_docs = _compact(doc_ids)
    n_docs = int(compact_docs.max()) + 1 if compact_docs.size else 0
    # Doc-major: a (docs x k) table; documents with fewer entries are padded with latent n.
    by_doc = np.arange(compact_docs.size) if _is_sorted(compact_docs) else np.argsort(compact_docs)
    doc_counts = np.bincount(compact_docs, minlength=n_docs)
    k_max = int(doc_counts.max()) if doc_counts.size else 1
    row_dtype = np.int16 if n_latents < np.iinfo(np.int16).max else np.int32
    rows = np.full((n_docs, k_max), n_latents, dtype=row_dtype)
    doc_starts = np.concatenate([[0], np.cumsum(doc_counts)[:-1]])
    sorted_docs = compact_docs[by_doc]
    rows[sorted_docs, np.arange(sorted_docs.size) - doc_starts[sorted_docs]] = latents[by_doc]
    # Latent-major: the documents of each latent. The warehouse stores activations ordered by
    # latent, so this is usually sorted already; otherwise int16 keys get numpy's radix sort.
    latent_ptr = np.zeros(n_latents + 1, dtype=np.int64)
    latent_ptr[1:] = np.cumsum(np.bincount(latents, minlength=n_latents))
    if _is_sorted(latents):
        return rows, compact_docs, latent_ptr
    keys = latents.astype(np.int16) if n_latents <= np.iinfo(np.int16).max else latents
    return rows, compact_docs[np.argsort(keys, kind="stable")], latent_ptr


def _is_sorted(values: np.ndarray) -> bool:
    return values.size < 2 or bool(np.all(values[1:] >= values[:-1]))


def _compact(doc_ids: np.ndarray) -> np.ndarray:
    """Doc ids as row numbers; dense ids are used as they are, sparse ones are renumbered."""
    if doc_ids.size == 0:
        return doc_ids.astype(np.int32)
    low, high = int(doc_ids.min()), int(doc_ids.max())
    if low >= 0 and high < 4 * doc_ids.size:
        return doc_ids.astype(np.int32, copy=False)
    return np.unique(doc_ids, return_inverse=True)[1].astype(np.int32)


def pair_weights(
    counts: sp.csr_array, n_docs: int, smoothing: float = 1.0, minimum: float = 1e-12, rows_per_chunk: int = 512
) -> sp.csr_array:
    """Symmetric edge weights: Loevinger's H of every co-occurring pair with H >= ``minimum`` (> 0).

    ``H_ij = (C_ij - E_ij) / (min(C_ii, C_jj) + smoothing - E_ij)`` with ``E_ij = C_ii C_jj / N``,
    the count expected if the two latents were independent.

    Why this weight: the raw ``C_ij / min(C_ii, C_jj)`` is P(denser | sparser), the fraction of the
    sparser latent's documents in which the denser one also fires. A child of a hierarchy (a
    specific concept) nearly always comes with its parent (the general one), so that fraction is
    high for parent-child pairs whatever the parent's number of children; cosine and Jaccard shrink
    as a parent gains children (10 equal children: cosine ~0.32) and would hide the hierarchy. But
    P(denser | sparser) is also high for *unrelated* pairs whenever the denser latent is dense
    (independent latents: it equals the denser latent's density), which turns every dense latent
    into a hub. H rescales it so independence gives 0 and perfect nesting (the sparser latent only
    fires with the denser one) gives 1: ``H = (P(d|s) - P(d)) / (1 - P(d))``, symmetric by
    construction. The paper used the asymmetric P(j | i) and let networkx keep whichever direction
    it wrote last. ``smoothing`` (like the paper's +1) keeps a latent seen in one or two documents
    from getting weight 1 with everything it happened to meet. Rows are processed in chunks and
    weak pairs dropped at once, so memory follows the kept edges, not the ~10^8 counts.
    """
    if minimum <= 0:
        raise ValueError(f"minimum weight must be > 0 (pairs at or below chance carry no edge); got {minimum}")
    counts = sp.csr_array(counts)
    density = counts.diagonal().astype(np.float64)
    n = counts.shape[0]
    kept_rows, kept_cols, kept_weights = [], [], []
    for first in range(0, n, rows_per_chunk):
        stop = min(first + rows_per_chunk, n)
        lo, hi = counts.indptr[first], counts.indptr[stop]
        cols = counts.indices[lo:hi]
        rows = np.repeat(np.arange(first, stop, dtype=cols.dtype), np.diff(counts.indptr[first : stop + 1]))
        weight = _loevinger(counts.data[lo:hi].astype(np.float64), density[rows], density[cols], n_docs, smoothing)
        keep = (weight >= minimum) & (rows != cols)
        kept_rows.append(rows[keep])
        kept_cols.append(cols[keep])
        kept_weights.append(weight[keep])
    rows = np.concatenate(kept_rows) if kept_rows else np.zeros(0, np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    cols = np.concatenate(kept_cols) if kept_cols else np.zeros(0, np.int32)
    weights = np.concatenate(kept_weights) if kept_weights else np.zeros(0)
    return sp.csr_array((weights, cols, indptr), shape=counts.shape)


def _loevinger(
    together: np.ndarray, count_a: np.ndarray, count_b: np.ndarray, n_docs: int, smoothing: float
) -> np.ndarray:
    expected = count_a * count_b / n_docs
    return (together - expected) / (np.minimum(count_a, count_b) + smoothing - expected)


def top_cooccurring(counts: sp.csr_array, n_docs: int, top: int, smoothing: float = 1.0) -> dict[str, np.ndarray]:
    """Per latent, its ``top`` partners by pair weight (Loevinger's H; ties: by count).

    Columns of the ``cooccurrence`` table (the dashboard's feature page): latent, other, count, weight.
    Partners that co-occur less often than chance (H <= 0) are not listed.
    """
    counts = sp.csr_array(counts)
    density = counts.diagonal().astype(np.float64)
    columns: dict[str, list[np.ndarray]] = {"latent": [], "other": [], "count": [], "weight": []}
    for latent in range(counts.shape[0]):
        start, stop = counts.indptr[latent], counts.indptr[latent + 1]
        others, row_counts = counts.indices[start:stop], counts.data[start:stop]
        row_weights = _loevinger(row_counts, density[latent], density[others], n_docs, smoothing)
        keep = (others != latent) & (row_weights > 0)
        if not keep.any():
            continue
        others, row_counts, row_weights = others[keep], row_counts[keep], row_weights[keep]
        if others.size > top:  # only the entries tied with or above the top-th weight need sorting
            cutoff = np.partition(row_weights, others.size - top)[others.size - top]
            near_top = row_weights >= cutoff
            others, row_counts, row_weights = others[near_top], row_counts[near_top], row_weights[near_top]
        order = np.lexsort((-row_counts, -row_weights))[:top]
        columns["latent"].append(np.full(order.size, latent, dtype=np.int32))
        columns["other"].append(others[order].astype(np.int32))
        columns["count"].append(row_counts[order].astype(np.int32))
        columns["weight"].append(row_weights[order])
    empty = {"latent": np.int32, "other": np.int32, "count": np.int32, "weight": np.float64}
    return {name: (np.concatenate(parts) if parts else np.zeros(0, empty[name])) for name, parts in columns.items()}
