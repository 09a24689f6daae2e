"""Everything the quality card reads, loaded once: embeddings, the split, codes, reconstructions.

Only documents the SAE encoded count (an embedding and at least one stored activation): a document
ingested after the SAE was trained has no activations, and reading its reconstruction as b_pre
would be a made-up number. Those are counted and named on the card instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import scipy.sparse

from data.embeddings import load_embeddings
from data.split import doc_ids_in_test
from evals.fidelity import decode, sae_decoder, sparse_codes
from evals.saes import StoredSAE


@dataclass
class ReportInputs:
    sae: StoredSAE
    metrics: dict
    """``saes.metrics`` as the trainer stored it."""
    doc_ids: np.ndarray
    """(N,) the documents the SAE encoded, ascending; every array below is aligned with it."""
    embeddings: np.ndarray
    """(N, d) float32, as stored."""
    in_test: np.ndarray
    """(N,) bool: in the test split (``docs.split``)."""
    codes: scipy.sparse.csr_matrix
    """(N, n_latents) stored activations (any number per document: top-k, BatchTopK, ...)."""
    reconstructions: np.ndarray
    """(N, d) x_hat = codes @ W_dec + b_pre."""
    not_encoded: int
    """Documents with an embedding but no stored activation (added after the SAE was trained)."""
    levels: np.ndarray | None
    """(n_latents,) each latent's Matryoshka level when the SAE has several, else None."""

    @property
    def test_rows(self) -> np.ndarray:
        return np.flatnonzero(self.in_test)


def load_inputs(con: duckdb.DuckDBPyConnection, sae: StoredSAE) -> ReportInputs:
    doc_ids, embeddings = load_embeddings(con, sae.embed_model)
    codes = sparse_codes(con, sae, doc_ids)
    encoded = np.diff(codes.indptr) > 0
    doc_ids, embeddings, codes = doc_ids[encoded], embeddings[encoded], codes[encoded]
    in_test = np.isin(doc_ids, np.fromiter(doc_ids_in_test(con), dtype=np.int64))
    metrics = con.execute("SELECT metrics FROM saes WHERE sae_id = ?", [sae.sae_id]).fetchall()[0][0]
    return ReportInputs(
        sae,
        json.loads(metrics) if metrics else {},
        doc_ids,
        embeddings,
        in_test,
        codes,
        decode(codes, *sae_decoder(con, sae.sae_id)),
        int((~encoded).sum()),
        latent_levels(con, sae.sae_id, sae.n_latents),
    )


def latent_levels(con: duckdb.DuckDBPyConnection, sae_id: int, n_latents: int) -> np.ndarray | None:
    """``latents.level`` (a Matryoshka SAE's prefix level of each latent) when the SAE has 2 or more levels,
    else None."""
    rows = con.execute("SELECT latent, level FROM latents WHERE sae_id = ?", [sae_id]).fetchnumpy()
    if len(np.unique(rows["level"])) < 2:
        return None
    levels = np.full(n_latents, -1, dtype=np.int64)
    levels[np.asarray(rows["latent"], dtype=np.int64)] = np.asarray(rows["level"], dtype=np.int64)
    return levels
