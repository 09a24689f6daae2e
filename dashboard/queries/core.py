"""Connections and the cache key: short-lived read-only readers and the warehouse's version.

Every public query function takes the warehouse path and its ``version`` (see ``warehouse_version``)
and is cached on those arguments, so a file that a writer changed is read again while an unchanged
one is served from memory. Connections are opened per call and closed before it returns: a
cached connection would block every writer (DuckDB: one writer process or many readers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from data.warehouse import WarehouseBusy, WarehouseMissing, open_reader

BUSY_WAIT_S = 2.0
"""How long a read waits for a writer before the page shows a 'busy' note instead."""

Version = tuple[int, ...]


def warehouse_version(path: str | Path) -> Version:
    """(mtime, size) of the file and of its write-ahead log: changes whenever a writer commits."""
    path = Path(path)
    if not path.exists():
        raise WarehouseMissing(f"no warehouse at {path}")
    stamp = path.stat()
    wal = path.with_name(path.name + ".wal")
    wal_stamp = (wal.stat().st_mtime_ns, wal.stat().st_size) if wal.exists() else (0, 0)
    return (stamp.st_mtime_ns, stamp.st_size, *wal_stamp)


def writer_active(path: str | Path) -> bool:
    """Whether another process holds the file for writing right now (one read-only open, no waiting)."""
    try:
        with open_reader(path, wait_s=0):
            return False
    except WarehouseBusy:
        return True


@contextmanager
def reader(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection (waits up to ``BUSY_WAIT_S`` for a writer).

    One thread: the dashboard's queries are point lookups of a few blocks, and handing them to a
    worker thread costs more than it saves on a busy 2-core machine (measured: 1.4 ms vs 6.8 ms).
    """
    with open_reader(path, wait_s=BUSY_WAIT_S) as con:
        con.execute("SET threads = 1")
        yield con


def read_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | tuple = ()) -> pd.DataFrame:
    """The rows of one parameterised query as a DataFrame."""
    return con.execute(sql, list(params)).df()
