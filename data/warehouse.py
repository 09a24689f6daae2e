"""Connections to a corpus warehouse (one DuckDB file per corpus).

DuckDB allows one read-write process *or* many read-only ones. Writers therefore keep their
transactions short and readers open short-lived read-only connections that retry while a
writer holds the file. Nobody caches a connection across requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from data.schema import SCHEMA_VERSION, current_version, migrate
from data.settings import writer_wait_s

logger = logging.getLogger(__name__)

# Files stay readable by the DuckDB 1.5 CLI (PyPI `duckdb-cli`); DuckDB 2.x writes v69 otherwise.
STORAGE_COMPATIBILITY = "v1.5.0"


class WarehouseError(Exception):
    """A warehouse file that cannot be used as given; every command reports it the same way (``data.commands``)."""


class WarehouseMissing(WarehouseError, FileNotFoundError):
    """The warehouse file does not exist yet (run `just data <corpus>` first)."""


class WarehouseOutdated(WarehouseError, RuntimeError):
    """The file was written by an older SAE Atlas and a read-only connection cannot migrate it."""


class WarehouseBusy(WarehouseError, RuntimeError):
    """Another process holds the warehouse and did not release it in time."""


class WarehouseUnreadable(WarehouseError, ValueError):
    """The file is not a DuckDB database, or a damaged (e.g. truncated) one."""


def unreadable(path: str | Path, error: Exception | str, at_open: bool = True) -> WarehouseUnreadable:
    """The one message for a file DuckDB cannot read as a database: what it is and what to do."""
    return WarehouseUnreadable(
        f"{path} is not a readable SAE Atlas warehouse ({error}). It is not a DuckDB file, or a damaged "
        "(e.g. truncated) one. Use the right file (--warehouse, or SAE_ATLAS_ARTIFACTS for the default "
        "artifacts/<corpus>.duckdb), or move this one aside and rebuild it with `just data <corpus>` "
        f"(then `just train <corpus>`){'; nothing was written to it' if at_open else ''}"
    )


_DAMAGE_MESSAGES = ("not a valid DuckDB database file", "Could not read enough bytes", "Corrupt database file")


def is_damaged_file_error(error: Exception) -> bool:
    """DuckDB's errors for a file that is no database or is damaged (at open or at a later read)."""
    return isinstance(error, duckdb.Error) and any(message in str(error) for message in _DAMAGE_MESSAGES)


def _refuse_if_cut_short(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """DuckDB opens a file cut short inside its data blocks and fails only at a later read (or writes into it):
    compare the file with the blocks its header lists, before anything is read or written."""
    if Path(f"{path}.wal").exists():  # blocks replayed from the write-ahead log are not in the file yet
        return
    block_size, used_blocks = con.execute(
        "SELECT block_size, used_blocks FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchall()[0]
    needed = block_size * used_blocks  # a lower bound: each block in use sits at its own place in the file
    size = path.stat().st_size
    if size < needed:
        con.close()
        raise unreadable(
            path, f"the file has {size} bytes but uses {used_blocks} blocks of {block_size} bytes: it was cut short"
        )


def _is_lock_error(error: Exception) -> bool:
    text = str(error).lower()
    return "lock" in text or "conflicting" in text or "being used" in text


@contextmanager
def open_writer(path: str | Path, wait_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection with the schema created or migrated; closed on exit.

    Waits up to ``wait_s`` (default ``SAE_ATLAS_WRITER_WAIT_S``, see ``data.settings``) while another
    process (a dashboard read, a `just sql` shell) holds the file, saying once what it waits for:
    a long training run must not fail at its final write because a reader was open.
    """
    wait_s = writer_wait_s() if wait_s is None else wait_s
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {"storage_compatibility_version": STORAGE_COMPATIBILITY}
    con = _connect_retrying(lambda: duckdb.connect(str(path), config=config), path, wait_s, writing=True)
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
        raise WarehouseOutdated(
            f"{path} has schema version {version}, this code reads version {SCHEMA_VERSION}: "
            f"migrate it once with `python -m data migrate <corpus> --warehouse {path}`"
        )


def _connect_retrying(connect, path: Path, wait_s: float, writing: bool = False) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    delay = 0.05
    told = False
    while True:
        try:
            con = connect()
            _refuse_if_cut_short(con, path)
            return con
        except duckdb.IOException as error:
            if is_damaged_file_error(error):
                raise unreadable(path, error) from error
            if not _is_lock_error(error):
                raise
            if time.monotonic() > deadline:
                if writing:
                    raise WarehouseBusy(
                        f"{path} stayed open in another process for {wait_s:g} s, so nothing could be written; close "
                        "that process (a `just sql` shell, a notebook, another run) and run again, or wait longer "
                        "(SAE_ATLAS_WRITER_WAIT_S)"
                    ) from error
                raise WarehouseBusy(f"{path} is held by another process for writing; retry when it finishes") from error
            if writing and not told and wait_s >= 1:
                logger.warning(
                    "waiting up to %g s for %s: another process has it open (a `just sql` shell, a notebook, the "
                    "dashboard, another run); close it and this continues (SAE_ATLAS_WRITER_WAIT_S sets the wait)",
                    wait_s,
                    path,
                )
                told = True
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def connection_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The warehouse file a connection is open on (None for an in-memory database)."""
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0][0]
    return Path(path).resolve() if path else None


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
