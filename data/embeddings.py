"""The embedding cache in the warehouse: vectors keyed by (model, text hash).

A vector is stored only when it is finite and of the model's width; a failed batch is recorded
in ``embedding_failures`` (never stored as zeros) and retried on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from data.text import embedding_text
from data.warehouse import transaction


class EmbeddingError(ValueError):
    """Vectors that must not be stored (NaN/inf, wrong width) or a corpus without embeddings."""


@dataclass(frozen=True)
class ModelInfo:
    """What a cached model is, stored in ``embedding_models`` beside its vectors."""

    model: str
    """The cache key (``embeddings.model``): the name or path as the corpus config gives it."""
    backend: str
    """``local``, ``openai`` or ``precomputed``."""
    source: str | None
    """Where it was loaded from: a resolved folder, a hub id, an API model, or a vectors file."""
    dim: int
    max_seq_length: int | None = None
    """Tokens per text; longer texts are cut there."""
    normalized: bool | None = None
    precision: str | None = None
    """``float32`` on a CPU, ``float16`` on a GPU."""
    fingerprint: str | None = None
    """Content hash of a local model folder: a changed folder must not add vectors under the old key."""


def record_model(con: duckdb.DuckDBPyConnection, info: ModelInfo, replace: bool = True) -> None:
    """Record ``info`` (``replace=False``: only if the model is not recorded yet, as for a vectors file).

    Refuses a local model folder whose content changed since its vectors were cached, and a model whose
    width differs from its stored vectors: either would mix two embeddings under one key.
    """
    stored = con.execute("SELECT fingerprint, dim FROM embedding_models WHERE model = ?", [info.model]).fetchall()
    if stored and info.fingerprint and stored[0][0] and stored[0][0] != info.fingerprint:
        raise EmbeddingError(
            f"the model folder {info.source} changed since its vectors were cached under {info.model!r}; "
            "save the changed model to a new folder (a new cache key), "
            "or delete its rows from embeddings and embedding_models"
        )
    if stored and not replace:
        return
    width = model_dim(con, info.model)
    if width is not None and width != info.dim:
        if not replace:
            return  # a vectors file of the wrong width: store_vectors refuses it, naming the file
        raise EmbeddingError(
            f"{info.model}: the model produces {info.dim}-d vectors but its cached vectors are {width}-d; "
            "use another model name or rebuild the warehouse"
        )
    con.execute(
        """
        INSERT OR REPLACE INTO embedding_models
            (model, backend, source, dim, max_seq_length, normalized, precision, fingerprint, recorded_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())
        """,
        [
            info.model,
            info.backend,
            info.source,
            info.dim,
            info.max_seq_length,
            info.normalized,
            info.precision,
            info.fingerprint,
        ],
    )


def model_dim(con: duckdb.DuckDBPyConnection, model: str) -> int | None:
    row = con.execute("SELECT any_value(dim) FROM embeddings WHERE model = ?", [model]).fetchall()[0]
    return row[0]


def validate_vectors(model: str, matrix: np.ndarray, expected_dim: int | None, labels: list[str]) -> np.ndarray:
    """Return ``matrix`` as float32 or raise naming the model: a (len(labels), d) matrix of the stored width."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(labels):
        raise EmbeddingError(f"{model}: expected a ({len(labels)}, dim) matrix, got shape {matrix.shape}")
    if expected_dim is not None and matrix.shape[1] != expected_dim:
        raise EmbeddingError(
            f"{model}: vectors have width {matrix.shape[1]} but stored vectors of this model have "
            f"width {expected_dim}; use another model name or rebuild the warehouse"
        )
    return matrix


def invalid_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows that are no direction: all zero, or holding NaN/inf. No entry point stores them (nothing can search
    or steer with them). One pass without a copy of the matrix (424k x 1536 at paper scale): a NaN/inf entry makes
    the squared norm NaN/inf, an all-zero row makes it 0."""
    squared = np.einsum("ij,ij->i", matrix, matrix)
    return np.flatnonzero(~np.isfinite(squared) | (squared == 0))


INVALID_VECTOR_SQL = "NOT isfinite(list_dot_product(vec, vec)) OR list_dot_product(vec, vec) = 0"
"""The same test in SQL, for vectors already stored (by a version that did not refuse them)."""
FIX_INVALID_VECTORS = (
    "`just data <corpus>` (python -m data ingest <corpus>) removes them and embeds those documents again"
)


def remove_invalid_vectors(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Delete stored vectors that are zero or hold NaN/inf, so the documents are embedded again; their arXiv ids."""
    with transaction(con):
        ids = [
            row[0]
            for row in con.execute(
                "SELECT DISTINCT d.arxiv_id FROM docs d JOIN embeddings e USING (text_hash) "
                f"WHERE {INVALID_VECTOR_SQL} ORDER BY 1"
            ).fetchall()
        ]
        con.execute(f"DELETE FROM embeddings WHERE {INVALID_VECTOR_SQL}")
    return ids


def store_vectors(con: duckdb.DuckDBPyConnection, model: str, hashes: list[str], matrix: np.ndarray) -> int:
    """Store validated vectors atomically; already-cached hashes are left as they are."""
    matrix = validate_vectors(model, matrix, model_dim(con, model), hashes)
    bad = invalid_rows(matrix)
    if bad.size:  # name the documents, not the text hashes
        ids = arxiv_ids_of(con, [hashes[i] for i in bad[:5]])
        raise EmbeddingError(
            f"{model}: {bad.size} vectors are zero or contain NaN/inf, e.g. for documents {ids}; "
            "nothing of this batch was stored"
        )
    dim = matrix.shape[1]
    rows = pa.table(
        {
            "model": pa.array([model] * len(hashes), pa.string()),
            "text_hash": pa.array(hashes, pa.string()),
            "dim": pa.array(np.full(len(hashes), dim, dtype=np.int32)),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dim).cast(pa.list_(pa.float32())),
        }
    )
    con.register("_new_vectors", rows)
    try:
        with transaction(con):
            inserted = con.execute(
                """
                INSERT INTO embeddings
                SELECT DISTINCT ON (n.text_hash) n.model, n.text_hash, n.dim, n.vec FROM _new_vectors n
                ANTI JOIN embeddings e ON e.model = n.model AND e.text_hash = n.text_hash
                """
            ).fetchall()[0][0]
            con.execute(
                "DELETE FROM embedding_failures WHERE model = ? AND text_hash IN (SELECT text_hash FROM _new_vectors)",
                [model],
            )
    finally:
        con.unregister("_new_vectors")
    return inserted


def record_failures(con: duckdb.DuckDBPyConnection, model: str, hashes: list[str], error: str) -> None:
    rows = pa.table({"text_hash": pa.array(hashes, pa.string())})
    con.register("_failed", rows)
    try:
        con.execute(
            """
            INSERT INTO embedding_failures
            SELECT DISTINCT ?, text_hash, ?, 1, now() FROM _failed
            ON CONFLICT (model, text_hash) DO UPDATE
            SET error = excluded.error, attempts = embedding_failures.attempts + 1, last_attempt = now()
            """,
            [model, error[:2000]],
        )
    finally:
        con.unregister("_failed")


def pending_texts(con: duckdb.DuckDBPyConnection, model: str) -> list[tuple[str, str]]:
    """(text_hash, text) of every document whose current text has no vector for ``model``."""
    rows = con.execute(
        """
        SELECT DISTINCT ON (d.text_hash) d.text_hash, d.title, d.abstract FROM docs d
        ANTI JOIN embeddings e ON e.model = ? AND e.text_hash = d.text_hash
        ORDER BY d.text_hash
        """,
        [model],
    ).fetchall()
    return [(h, embedding_text(title, abstract)) for h, title, abstract in rows]


def load_embeddings(con: duckdb.DuckDBPyConnection, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(doc_ids, matrix) of every document embedded with ``model``, ordered by doc_id."""
    # con.sql(...).to_arrow_table() streams into Arrow without the extra copy con.execute(...) makes.
    table = con.sql(
        """
        SELECT d.doc_id, e.vec FROM docs d JOIN embeddings e ON e.model = ? AND e.text_hash = d.text_hash
        ORDER BY d.doc_id
        """,
        params=[model],
    ).to_arrow_table()
    if table.num_rows == 0:
        raise EmbeddingError(
            f"the corpus has no embeddings for model {model!r}: run `just data <corpus>` "
            "(it embeds or imports them) before training"
        )
    doc_ids = table.column("doc_id").to_numpy().astype(np.int64)
    vectors = table.column("vec").combine_chunks()
    dim = len(vectors[0])
    matrix = np.ascontiguousarray(vectors.flatten().to_numpy().reshape(len(doc_ids), dim), dtype=np.float32)
    bad = invalid_rows(matrix)
    if bad.size:  # stored before such vectors were refused: nothing can search, steer or train with them
        ids = [
            row[0]
            for row in con.execute(
                "SELECT arxiv_id FROM docs WHERE doc_id IN (SELECT unnest(?)) ORDER BY arxiv_id",
                [doc_ids[bad[:10]].tolist()],
            ).fetchall()
        ]
        raise EmbeddingError(
            f"{bad.size} stored {model!r} vectors are zero or contain NaN/inf, e.g. documents {ids}; "
            f"{FIX_INVALID_VECTORS}"
        )
    return doc_ids, matrix


def arxiv_ids_of(con: duckdb.DuckDBPyConnection, hashes: list[str]) -> list[str]:
    """The arXiv ids of the documents with these text hashes (to name documents in messages)."""
    rows = con.execute(
        "SELECT arxiv_id FROM docs WHERE text_hash IN (SELECT unnest(?)) ORDER BY 1", [hashes]
    ).fetchall()
    return [row[0] for row in rows] or hashes


def import_vectors_by_arxiv_id(
    con: duckdb.DuckDBPyConnection, model: str, arxiv_ids: list[str], matrix: np.ndarray
) -> tuple[int, int]:
    """Store precomputed vectors for the documents they belong to; returns (stored, unmatched).

    A vector without its text (e.g. Parquet id + vector) is taken to belong to the document's
    current text, so it is stored under that document's current text hash.
    """
    lookup = dict(con.execute("SELECT arxiv_id, text_hash FROM docs").fetchall())
    keep = [i for i, arxiv_id in enumerate(arxiv_ids) if arxiv_id in lookup]
    if not keep:
        return 0, len(arxiv_ids)
    hashes = [lookup[arxiv_ids[i]] for i in keep]
    stored = store_vectors(con, model, hashes, np.asarray(matrix)[keep])
    return stored, len(arxiv_ids) - len(keep)
