"""Resumable crawl cursors, one ``ingest_runs`` row per crawl (``run_id``), as JSON in ``cursor``."""

from __future__ import annotations

import datetime as dt
import json

import duckdb


def load_cursor(con: duckdb.DuckDBPyConnection, run_id: str) -> dict | None:
    rows = con.execute("SELECT cursor FROM ingest_runs WHERE run_id = ?", [run_id]).fetchall()
    if not rows or rows[0][0] is None:
        return None
    return json.loads(rows[0][0])


def save_cursor(con: duckdb.DuckDBPyConnection, run_id: str, source: str, cursor: dict, finished: bool) -> None:
    """Upsert the crawl's cursor; ``finished_at`` is set when the crawl is complete, cleared otherwise."""
    con.execute(
        """
        INSERT INTO ingest_runs (run_id, source, started_at, finished_at, cursor) VALUES (?, ?, now(), ?, ?)
        ON CONFLICT (run_id) DO UPDATE SET cursor = excluded.cursor, finished_at = excluded.finished_at
        """,
        [run_id, source, dt.datetime.now() if finished else None, json.dumps(cursor)],
    )
