"""The SQL page's runner: one user SELECT on a read-only connection with file access disabled."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from dashboard.queries.core import reader


class RejectedQuery(ValueError):
    """A statement the SQL page refuses to run (anything but one SELECT)."""


def run_select(path: str | Path, sql: str, row_limit: int) -> tuple[pd.DataFrame, bool]:
    """Run one user SELECT on a read-only connection with file access disabled; at most ``row_limit`` rows.

    Returns the rows and whether more existed. Not cached: ad-hoc queries are cheap to rerun.
    """
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
    with reader(path) as con:
        # A SELECT could still read or write other files (read_csv, COPY-like table functions).
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        frame = con.sql(statements[0].query).limit(row_limit + 1).df()
    return frame.head(row_limit), len(frame) > row_limit
