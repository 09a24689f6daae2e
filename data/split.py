"""The test split: documents that no SAE trains on and no explanation is drawn from.

A document is in the test split when a stable hash of its id falls below the corpus's
``test_fraction`` (default 10%). The hash depends only on the id, so adding documents never moves
an old one, and the same document is on the same side in every corpus that holds it. The split is
stored in ``docs.split`` (``'train'`` | ``'test'``) so SQL can filter on it; the SAE's validation
split is carved out of the training documents by the trainer.
"""

from __future__ import annotations

import hashlib

import duckdb

DEFAULT_TEST_FRACTION = 0.10
TRAIN, TEST = "train", "test"

_HASH_BITS = 60
"""The first 15 hex digits of the id's MD5: the same number in Python and in DuckDB's SQL."""


def bucket_of(doc_key: str) -> float:
    """Where the document falls in [0, 1); it is a test document when this is below the fraction."""
    return int(hashlib.md5(doc_key.encode()).hexdigest()[: _HASH_BITS // 4], 16) / 2**_HASH_BITS


def split_of(doc_key: str, test_fraction: float = DEFAULT_TEST_FRACTION) -> str:
    return TEST if bucket_of(doc_key) < test_fraction else TRAIN


def split_sql(column: str = "arxiv_id", fraction: str = "?") -> str:
    """The SQL expression of ``split_of`` (``fraction`` is a ``?`` parameter unless given)."""
    bucket = f"('0x' || substr(md5({column}), 1, {_HASH_BITS // 4}))::UBIGINT / {float(2**_HASH_BITS)!r}"
    return f"CASE WHEN {bucket} < {fraction} THEN '{TEST}' ELSE '{TRAIN}' END"


def check_test_fraction(test_fraction: float, source: str) -> float:
    if not 0 < test_fraction < 0.5:
        raise ValueError(f"{source}: test_fraction must be in (0, 0.5), got {test_fraction}")
    return test_fraction


def assign_splits(con: duckdb.DuckDBPyConnection, test_fraction: float, corpus: str) -> int:
    """Put every document on its side of the split; returns how many documents moved.

    New documents get their side when they are stored; this only moves documents when the
    corpus's test_fraction changed. Moving documents under a trained SAE would make its test
    numbers lie (it trained on some of the new test documents), so that is refused.
    """
    moved = con.execute(
        f"SELECT count(*) FROM docs WHERE split IS DISTINCT FROM {split_sql()}", [test_fraction]
    ).fetchall()[0][0]
    if moved == 0:
        return 0
    trained = [row[0] for row in con.execute("SELECT sae_id FROM saes ORDER BY sae_id").fetchall()]
    if trained:
        raise ValueError(
            f"corpus {corpus!r}: test_fraction {test_fraction} would move {moved} documents between the "
            f"train and test splits, but SAEs {trained} were trained on the current split; keep the "
            "corpus's test_fraction, or ingest into a new warehouse (--warehouse) to use another one"
        )
    con.execute(f"UPDATE docs SET split = {split_sql()}", [test_fraction])
    return moved


def doc_ids_in_test(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {row[0] for row in con.execute("SELECT doc_id FROM docs WHERE split = ?", [TEST]).fetchall()}
