"""The SQL page: schema browser, query time, a timeout that stops a slow query, short errors, '1 row'."""

from __future__ import annotations

import time

import pytest

from dashboard.queries.sql import QueryTimeout, run_select
from tests.dashboard_support import dashboard_warehouse, fresh_streamlit_caches, open_app, sql  # noqa: F401 (fixtures)

SLOW = "SELECT count(*) FROM range(100000) a, range(100000) b WHERE (a.range * b.range) % 7 = 3"


def run(at, query: str, timeout: float | None = None):
    at.text_area(key="sql_text").set_value(query)
    if timeout is not None:
        at.number_input(key="sql_timeout").set_value(timeout)
    return at.button(key="sql_run").click().run()


def test_a_slow_query_is_interrupted_after_its_timeout(dashboard_warehouse):
    path, _ = dashboard_warehouse
    start = time.perf_counter()
    with pytest.raises(QueryTimeout, match="0.3 s timeout"):
        run_select(path, SLOW, 10, timeout_s=0.3)
    assert time.perf_counter() - start < 5  # the cross join alone runs for minutes
    assert run_select(path, "SELECT 42 AS x", 10, timeout_s=0.3).frame["x"].tolist() == [42]


def test_sql_page_times_queries_says_one_row_and_stops_slow_ones(monkeypatch, dashboard_warehouse):
    path, _ = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/sql.py")
    run(at, "SELECT count(*) AS n FROM docs")
    message = at.success[0].value
    assert message.startswith("1 row in ") and message.endswith(" s"), message
    assert at.dataframe[0].value["n"].tolist() == [12_623]

    run(at, SLOW, timeout=0.5)
    assert not at.exception and "0.5 s timeout" in at.error[0].value


def test_sql_page_cuts_long_errors(monkeypatch, dashboard_warehouse):
    path, _ = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/sql.py")
    run(at, "SELECT * FROM " + "no_such_table_" * 700)  # DuckDB echoes the 10k-character name
    error = at.error[0].value
    assert "The query failed" in error and len(error) < 300 and "more characters" in error, error


def test_schema_browser_lists_tables_with_exact_row_counts_and_their_columns(monkeypatch, dashboard_warehouse):
    path, _ = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/sql.py")
    tables = at.dataframe[0].value.set_index("name")
    assert tables.loc["docs", "rows"] == sql(path, "SELECT count(*) FROM docs")[0][0]
    assert tables.loc["latents", "kind"] == "table" and tables.loc["best_labels", "kind"] == "view"
    at.selectbox(key="sql_schema_table").set_value("latents").run()
    columns = at.dataframe[1].value["column"].tolist()
    expected = [row[0] for row in sql(path, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'latents'")]
    assert columns == expected and "density" in columns
