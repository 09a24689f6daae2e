"""Precomputed embeddings: Parquet (id + vector) and the paper's ``.npy`` + ``abstract_texts.json``.

Both readers validate the matrix (2-D, finite, one row per id), so a broken file is refused
before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data.embeddings import invalid_rows

ABSTRACT_TEXTS = "abstract_texts.json"


class PrecomputedFormatError(ValueError):
    """A precomputed-embeddings file that does not have the expected shape."""


@dataclass
class PrecomputedVectors:
    """Vectors read from a file, one row per id (``read_npy_vectors``, or a Parquet file's (ids, matrix))."""

    path: Path
    ids: list[str]
    matrix: np.ndarray
    abstracts: list[str] | None = None
    """The abstract each vector belongs to, when the file carries it (the ``.npy`` format)."""


def read_parquet_vectors(
    path: Path, id_column: str = "arxiv_id", vector_column: str = "embedding"
) -> tuple[list[str], np.ndarray]:
    """(ids, float32 matrix) from a Parquet file with an id column and a list-of-float column."""
    if not path.exists():
        raise FileNotFoundError(f"embeddings file {path} does not exist; check the path you passed")
    table = pq.read_table(path)
    missing = [c for c in (id_column, vector_column) if c not in table.column_names]
    if missing:
        raise PrecomputedFormatError(
            f"{path}: missing column(s) {missing}; found {table.column_names}. "
            f"A vectors Parquet needs {id_column!r} and {vector_column!r}"
        )
    ids = [str(v) for v in table.column(id_column).to_pylist()]
    vectors = table.column(vector_column).combine_chunks()
    if pa.types.is_fixed_size_list(vectors.type):
        width = vectors.type.list_size
    else:
        widths = set(vectors.value_lengths().to_pylist())
        if len(widths) != 1:
            raise PrecomputedFormatError(
                f"{path}: vectors have different widths {sorted(widths)[:5]}; all must be equal"
            )
        width = widths.pop()
    if vectors.null_count:
        raise PrecomputedFormatError(f"{path}: {vectors.null_count} rows have no vector")
    matrix = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(ids), width)
    return ids, _checked_matrix(path, matrix, ids)


def read_npy_vectors(path: Path, texts_path: Path | None = None) -> PrecomputedVectors:
    """The reference paper's format: an (N, d) ``.npy`` matrix and ``abstract_texts.json``
    (``{"doc_ids": [...], "abstracts": [...]}``, same order) next to it unless ``texts_path`` is given."""
    texts_path = texts_path or path.with_name(ABSTRACT_TEXTS)
    for file in (path, texts_path):
        if not file.exists():
            raise FileNotFoundError(
                f"{file} does not exist; a .npy matrix needs its {ABSTRACT_TEXTS} (doc_ids + abstracts) next to it"
            )
    try:
        texts = json.loads(texts_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise PrecomputedFormatError(f"{texts_path}: not valid JSON ({error})") from error
    if not isinstance(texts, dict) or not all(isinstance(texts.get(k), list) for k in ("doc_ids", "abstracts")):
        raise PrecomputedFormatError(f"{texts_path}: expected an object with lists 'doc_ids' and 'abstracts'")
    ids, abstracts = [str(i) for i in texts["doc_ids"]], texts["abstracts"]
    if len(ids) != len(abstracts):
        raise PrecomputedFormatError(
            f"{texts_path}: {len(ids)} doc_ids but {len(abstracts)} abstracts; they must pair up"
        )
    if not all(isinstance(a, str) for a in abstracts):
        raise PrecomputedFormatError(f"{texts_path}: every abstract must be a string")
    try:
        matrix = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise PrecomputedFormatError(f"{path}: not a numeric .npy matrix ({error})") from error
    if matrix.ndim == 2 and matrix.shape[0] != len(ids):
        raise PrecomputedFormatError(
            f"{path} has {matrix.shape[0]} rows but {texts_path} lists {len(ids)} documents; they must match one to one"
        )
    return PrecomputedVectors(path, ids, _checked_matrix(path, matrix, ids), abstracts)


def _checked_matrix(path: Path, matrix: np.ndarray, ids: list[str]) -> np.ndarray:
    if matrix.ndim != 2 or matrix.shape[0] != len(ids) or matrix.shape[1] == 0:
        raise PrecomputedFormatError(f"{path}: expected a ({len(ids)}, dim) matrix, got shape {matrix.shape}")
    if not np.issubdtype(matrix.dtype, np.number):
        raise PrecomputedFormatError(f"{path}: vectors must be numbers, got dtype {matrix.dtype}")
    matrix = np.asarray(matrix, dtype=np.float32)
    bad_rows = invalid_rows(matrix)
    if bad_rows.size:
        named = ", ".join(f"{ids[i]} (row {i})" for i in bad_rows[:5])
        raise PrecomputedFormatError(
            f"{path}: {bad_rows.size} vectors are all zero or contain NaN/inf: documents {named}"
            f"{' ...' if bad_rows.size > 5 else ''}; fix or drop those rows and import again (nothing was stored)"
        )
    return matrix
