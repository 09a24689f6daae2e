"""Storing documents: de-duplicated by id (latest version wins), stable doc_ids, atomic."""

from __future__ import annotations

import json
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from data.corpus import CorpusConfig, Document, IngestStats
from data.split import split_sql
from data.warehouse import transaction

_BATCH = 50_000

_INCOMING_SCHEMA = pa.schema(
    [
        ("ord", pa.int64()),
        ("arxiv_id", pa.string()),
        ("title", pa.string()),
        ("abstract", pa.string()),
        ("categories", pa.list_(pa.string())),
        ("published", pa.date32()),
        ("version", pa.int32()),
        ("text_hash", pa.string()),
        ("metadata", pa.string()),
    ]
)


def ingest_documents(
    con: duckdb.DuckDBPyConnection,
    documents: Iterable[Document],
    corpus: CorpusConfig,
    source: str,
    stats: IngestStats,
) -> IngestStats:
    """Store every document of ``corpus`` from ``documents``; re-running loses and duplicates nothing.

    Each batch is one transaction, so a crash leaves whole batches and a re-run completes the rest.
    """
    batch: list[Document] = []
    for document in documents:
        stats.read += 1
        if not corpus.accepts(document.categories, document.metadata):
            stats.outside_corpus += 1
            continue
        batch.append(document)
        if len(batch) >= _BATCH:
            _store_batch(con, batch, source, corpus.test_fraction, stats)
            batch = []
    if batch:
        _store_batch(con, batch, source, corpus.test_fraction, stats)
    return stats


def _store_batch(
    con: duckdb.DuckDBPyConnection, batch: list[Document], source: str, test_fraction: float, stats: IngestStats
) -> None:
    rows = pa.Table.from_pydict(
        {
            "ord": list(range(len(batch))),
            "arxiv_id": [d.arxiv_id for d in batch],
            "title": [d.title for d in batch],
            "abstract": [d.abstract for d in batch],
            "categories": [d.categories for d in batch],
            "published": [d.published for d in batch],
            "version": [d.version for d in batch],
            "text_hash": [d.text_hash for d in batch],
            "metadata": [None if d.metadata is None else json.dumps(d.metadata, sort_keys=True) for d in batch],
        },
        schema=_INCOMING_SCHEMA,
    )
    con.register("_incoming_raw", rows)
    try:
        with transaction(con):
            # Within a batch, the highest version wins; on a tie, the later line.
            con.execute(
                """
                CREATE OR REPLACE TEMP TABLE _incoming AS
                SELECT * EXCLUDE (ord, metadata), metadata::JSON AS metadata FROM _incoming_raw
                QUALIFY row_number() OVER (PARTITION BY arxiv_id ORDER BY version DESC, ord DESC) = 1
                """
            )
            changed = con.execute(
                """
                SELECT count(*) FROM _incoming i JOIN docs d USING (arxiv_id)
                WHERE i.version >= d.version
                  AND (i.text_hash <> d.text_hash OR i.categories <> d.categories
                       OR i.version <> d.version OR i.published IS DISTINCT FROM d.published
                       OR i.metadata::VARCHAR IS DISTINCT FROM d.metadata::VARCHAR)
                """
            ).fetchall()[0][0]
            known = con.execute("SELECT count(*) FROM _incoming JOIN docs USING (arxiv_id)").fetchall()[0][0]
            con.execute(
                """
                UPDATE docs SET title = i.title, abstract = i.abstract, categories = i.categories,
                       published = i.published, version = i.version, text_hash = i.text_hash, source = ?,
                       metadata = i.metadata
                FROM _incoming i
                WHERE docs.arxiv_id = i.arxiv_id AND i.version >= docs.version
                  AND (i.text_hash <> docs.text_hash OR i.categories <> docs.categories
                       OR i.version <> docs.version OR i.published IS DISTINCT FROM docs.published
                       OR i.metadata::VARCHAR IS DISTINCT FROM docs.metadata::VARCHAR)
                """,
                [source],
            )
            inserted = con.execute(
                f"""
                INSERT INTO docs (doc_id, arxiv_id, title, abstract, categories, published, version, text_hash, source,
                                  split, metadata)
                SELECT (SELECT coalesce(max(doc_id), -1) FROM docs) + row_number() OVER (ORDER BY i.arxiv_id),
                       i.arxiv_id, i.title, i.abstract, i.categories, i.published, i.version, i.text_hash, ?,
                       {split_sql("i.arxiv_id")}, i.metadata
                FROM _incoming i ANTI JOIN docs d USING (arxiv_id)
                """,
                [source, test_fraction],
            ).fetchall()[0][0]
            con.execute("DROP TABLE _incoming")
    finally:
        con.unregister("_incoming_raw")
    stats.inserted += inserted
    stats.updated += changed
    stats.unchanged += known - changed
