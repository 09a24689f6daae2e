"""Resumable crawl cursors, one ``ingest_runs`` row per crawl (``run_id``), as JSON in ``cursor``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from data.corpus import CorpusConfig, Document, IngestStats
from data.docs import ingest_documents
from data.sources import BadInput
from data.warehouse import open_writer


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


def store_page(
    warehouse: str | Path,
    corpus: CorpusConfig,
    source: str,
    url: str,
    documents: list[Document],
    stats: IngestStats,
    bad: BadInput,
    run_id: str,
    cursor: dict,
    finished: bool,
) -> None:
    """Commit one crawled page, then the crawl's cursor after it (a crash in between re-reads one
    page, which stores nothing twice). A document with an empty abstract is counted, not stored. The
    writer is held only for this: between pages (pauses, retries) readers get in."""
    for document in documents:
        if not document.abstract.strip():
            bad.empty_abstract(f"{url} ({document.arxiv_id})")
    with open_writer(warehouse) as con:
        ingest_documents(con, (d for d in documents if d.abstract.strip()), corpus, source, stats)
        save_cursor(con, run_id, source, cursor, finished)
