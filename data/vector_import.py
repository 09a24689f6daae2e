"""Importing precomputed vectors into the embedding cache, keyed by the text they were computed from.

- Parquet (id + vector) carries no text: a vector is stored under the current text of the
  document with that arXiv id, so the documents must be ingested first (ids without a document
  are counted as unmatched).
- The paper's ``.npy`` + ``abstract_texts.json`` carries each abstract. A vector is stored under
  the text hash of the matching document only if that document's abstract is the one the vector
  was computed from; a document whose abstract has changed since is counted as stale and simply
  embedded again. Ids with no document yet become documents: the abstract as given, an empty
  title (the file has none, and inventing one would change the text) and no categories (so they
  belong to the corpus the user imports them into). Their text, and so their cache key, is then
  the abstract alone. The paper embedded ``title + abstract``, so for these documents the vector
  is the best one available for the text we have; ingesting the same ids later with their titles
  changes the text hash, and they are embedded afresh rather than reusing a vector for a text it
  was not computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from data.corpus import CorpusConfig, Document, IngestStats, split_arxiv_id
from data.docs import ingest_documents
from data.embed import MODEL_WIDTHS
from data.embeddings import ModelInfo, import_vectors_by_arxiv_id, record_model, store_vectors
from data.sources.precomputed import PrecomputedFormatError, PrecomputedVectors
from data.text import collapse_whitespace


@dataclass
class ImportStats:
    """What an import of precomputed vectors did."""

    stored: int = 0
    """New vectors in the cache."""
    matched: int = 0
    """Vectors that belong to a document of the warehouse (stored now or already cached)."""
    unmatched: int = 0
    """Vectors for ids without a document (Parquet only: ingest the documents first)."""
    stale: int = 0
    """Vectors computed for an abstract that differs from the document's current one."""
    new_documents: int = 0
    """Documents created from ``abstract_texts.json``."""


def import_precomputed(
    con: duckdb.DuckDBPyConnection, corpus: CorpusConfig, model: str, vectors: PrecomputedVectors, stats: IngestStats
) -> ImportStats:
    """Store ``vectors`` as ``model`` embeddings (see the module docstring for which text each belongs to)."""
    expected = MODEL_WIDTHS.get(model)
    if expected is not None and vectors.matrix.shape[1] != expected:
        raise PrecomputedFormatError(
            f"{vectors.path}: vectors have width {vectors.matrix.shape[1]} but {model} produces {expected}; "
            "name the model the file was computed with (--embeddings-model)"
        )
    record_model(con, ModelInfo(model, "precomputed", str(vectors.path), vectors.matrix.shape[1]), replace=False)
    ids = [split_arxiv_id(i)[0] for i in vectors.ids]
    result = ImportStats()
    if vectors.abstracts is None:
        result.stored, result.unmatched = import_vectors_by_arxiv_id(con, model, ids, vectors.matrix)
        result.matched = len(ids) - result.unmatched
        return result
    result.new_documents = _insert_missing_documents(con, corpus, ids, vectors, stats)
    current = {
        a: (abstract, h) for a, abstract, h in con.execute("SELECT arxiv_id, abstract, text_hash FROM docs").fetchall()
    }
    rows, hashes = [], []
    for row, arxiv_id in enumerate(ids):
        if arxiv_id not in current:
            result.unmatched += 1
            continue
        abstract, text_hash = current[arxiv_id]
        if collapse_whitespace(vectors.abstracts[row]) != collapse_whitespace(abstract):
            result.stale += 1
            continue
        rows.append(row)
        hashes.append(text_hash)
    result.matched = len(rows)
    if rows:
        result.stored = store_vectors(con, model, hashes, vectors.matrix[rows])
    return result


def _insert_missing_documents(
    con: duckdb.DuckDBPyConnection,
    corpus: CorpusConfig,
    ids: list[str],
    vectors: PrecomputedVectors,
    stats: IngestStats,
) -> int:
    known = {a for (a,) in con.execute("SELECT arxiv_id FROM docs").fetchall()}
    assert vectors.abstracts is not None  # the caller checked the vectors carry abstracts
    documents = []
    for arxiv_id, abstract in zip(ids, vectors.abstracts, strict=False):
        if arxiv_id in known:
            continue
        if not abstract.strip():
            stats.empty_abstract += 1
            stats.note(f"{vectors.path}: document {arxiv_id} has an empty abstract, skipped")
            continue
        documents.append(Document(arxiv_id=arxiv_id, title="", abstract=abstract, categories=[]))
    before = stats.inserted
    ingest_documents(con, documents, corpus, f"npy:{vectors.path.name}", stats)
    return stats.inserted - before
