"""Connections to a corpus warehouse (one DuckDB file per corpus).

DuckDB allows one read-write process *or* many read-only ones. Writers therefore keep their
transactions short and readers open short-lived read-only connections that retry while a
writer holds the file. Nobody caches a connection across requests.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from data.schema import SCHEMA_VERSION, current_version, migrate

# Files stay readable by the DuckDB 1.5 CLI (PyPI `duckdb-cli`); DuckDB 2.x writes v69 otherwise.
STORAGE_COMPATIBILITY = "v1.5.0"


class WarehouseMissing(FileNotFoundError):
    """The warehouse file does not exist yet (run `just data <corpus>` first)."""


class WarehouseOutdated(RuntimeError):
    """The file was written by an older SAE Atlas and a read-only connection cannot migrate it."""


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse for writing and did not release it in time."""


def _is_lock_error(error: Exception) -> bool:
    text = str(error).lower()
    return "lock" in text or "conflicting" in text or "being used" in text


@contextmanager
def open_writer(path: str | Path, wait_s: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection with the schema created or migrated; closed on exit.

    Waits up to ``wait_s`` while another process (e.g. a dashboard read) holds the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"storage_compatibility_version": STORAGE_COMPATIBILITY}
    con = _connect_retrying(lambda: duckdb.connect(str(path), config=config), path, wait_s)
    try:
        migrate(con)
        yield con
    finally:
        con.close()


@contextmanager
def open_reader(path: str | Path, wait_s: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection that retries while a writer holds the file; closed on exit."""
    path = Path(path)
    if not path.exists():
        raise WarehouseMissing(f"no warehouse at {path}: build it with `just data <corpus>` first")
    con = _connect_retrying(lambda: duckdb.connect(str(path), read_only=True), path, wait_s)
    try:
        _require_current_schema(con, path)
        yield con
    finally:
        con.close()


def _require_current_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Readers query views and columns of the current schema; an older file gets a clear way forward."""
    version = current_version(con)
    if 0 < version < SCHEMA_VERSION:
        raise WarehouseOutdated(f"{path} has schema version {version}, this code reads version {SCHEMA_VERSION}: "
                                f"migrate it once with `python -m data migrate <corpus> --warehouse {path}`")


def _connect_retrying(connect, path: Path, wait_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return connect()
        except duckdb.IOException as error:
            if not _is_lock_error(error) or time.monotonic() > deadline:
                if _is_lock_error(error):
                    raise WarehouseBusy(
                        f"{path} is held by another process for writing; retry when it finishes"
                    ) from error
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing: commit on success, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, order_by: str = "") -> None:
    """Bulk insert an Arrow table whose column names match ``table`` (never row by row).

    ``table`` and ``order_by`` are code constants, never user input.
    """
    con.register("_arrow_rows", rows)
    try:
        columns = ", ".join(rows.column_names)
        order = f" ORDER BY {order_by}" if order_by else ""
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _arrow_rows{order}")
    finally:
        con.unregister("_arrow_rows")
