"""The SQL page's runner and schema browser: one user SELECT on a read-only connection with file
access disabled, stopped after a timeout; every table and view with its columns and row count."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from dashboard.queries.core import Version, read_frame, reader

DEFAULT_TIMEOUT_S = 5.0
"""How long a user query may run before it is interrupted (the SQL page lets the user change it)."""


class RejectedQuery(ValueError):
    """A statement the SQL page refuses to run (anything but one SELECT)."""


class QueryTimeout(RuntimeError):
    """A user query ran past its timeout and was interrupted."""


@dataclass(frozen=True)
class SelectResult:
    """At most ``row_limit`` rows of a user SELECT, whether more existed, and how long it ran."""

    frame: pd.DataFrame
    truncated: bool
    seconds: float


def _one_select(sql: str) -> duckdb.Statement:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise RejectedQuery(f"could not parse the query: {error}") from error
    if len(statements) != 1:
        raise RejectedQuery(f"enter exactly one statement (got {len(statements)})")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise RejectedQuery(
            f"only SELECT queries run here (got {kind.name}); the warehouse is opened read-only "
            "and the dashboard never writes to it"
        )
    return statements[0]


def run_select(path: str | Path, sql: str, row_limit: int, timeout_s: float = DEFAULT_TIMEOUT_S) -> SelectResult:
    """Run one user SELECT (at most ``row_limit`` rows), interrupted after ``timeout_s`` seconds.

    DuckDB has no per-statement timeout: the query runs on a worker thread while this one waits,
    then calls ``connection.interrupt()``. Not cached: ad-hoc queries are cheap to rerun.
    """
    statement = _one_select(sql)
    outcome: dict[str, object] = {}
    with reader(path) as con:
        # A SELECT could still read or write other files (read_csv, COPY-like table functions).
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

        def work() -> None:
            try:
                outcome["frame"] = con.sql(statement.query).limit(row_limit + 1).df()
            except Exception as error:  # handed to the caller's thread below
                outcome["error"] = error

        start = time.perf_counter()
        worker = threading.Thread(target=work, name="sql-page-query", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            con.interrupt()
            worker.join()
            raise QueryTimeout(
                f"the query ran past the {timeout_s:g} s timeout and was stopped; "
                "raise the timeout or narrow the query (a WHERE clause, a LIMIT)"
            )
        seconds = time.perf_counter() - start
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    frame = outcome["frame"]
    assert isinstance(frame, pd.DataFrame)
    return SelectResult(frame.head(row_limit), len(frame) > row_limit, seconds)


@st.cache_data(show_spinner=False, max_entries=8)
def schema(path: str, version: Version) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every table and view (name, kind, exact rows for tables, columns) and every column (table, name, type)."""
    with reader(path) as con:
        tables = read_frame(
            con,
            """
            SELECT table_name AS name, 'table' AS kind FROM duckdb_tables() WHERE NOT internal
            UNION ALL
            SELECT view_name, 'view' FROM duckdb_views() WHERE NOT internal
            ORDER BY name
            """,
        )
        columns = read_frame(
            con,
            """
            SELECT table_name AS "table", column_name AS "column", data_type AS type
            FROM duckdb_columns() WHERE NOT internal ORDER BY table_name, column_index
            """,
        )
        # Exact counts of base tables only: a view may be a costly query (best_labels ranks every label).
        rows = {
            name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # type: ignore[index]
            for name in tables.loc[tables["kind"] == "table", "name"]
        }
    tables["rows"] = tables["name"].map(rows).astype("Int64")
    tables["columns"] = tables["name"].map(columns.groupby("table").size()).astype("Int64")
    return tables, columns
