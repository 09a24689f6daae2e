"""Precomputed embeddings: Parquet (id + vector) and the paper's ``.npy`` + ``abstract_texts.json``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


class PrecomputedFormatError(ValueError):
    """A precomputed-embeddings file that does not have the expected shape."""


def read_parquet_vectors(path: Path, id_column: str = "arxiv_id", vector_column: str = "embedding") -> tuple[list[str], np.ndarray]:
    """(ids, float32 matrix) from a Parquet file with an id column and a list-of-float column."""
    if not path.exists():
        raise FileNotFoundError(f"embeddings file {path} does not exist; check the path you passed")
    table = pq.read_table(path)
    missing = [c for c in (id_column, vector_column) if c not in table.column_names]
    if missing:
        raise PrecomputedFormatError(
            f"{path}: missing column(s) {missing}; found {table.column_names}. "
            f"Pass the right names with --id-column/--vector-column"
        )
    ids = [str(v) for v in table.column(id_column).to_pylist()]
    vectors = table.column(vector_column).combine_chunks()
    lengths = set(vectors.value_lengths().to_pylist()) if hasattr(vectors, "value_lengths") else {vectors.type.list_size}
    if len(lengths) != 1:
        raise PrecomputedFormatError(f"{path}: vectors have different widths {sorted(lengths)[:5]}")
    matrix = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(ids), -1)
    return ids, matrix
