"""The warehouse built from the shared data: schema, docs, vectors, re-ingest idempotence."""

from __future__ import annotations

import numpy as np

from data.corpus import IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.embeddings import load_embeddings
from data.schema import SCHEMA_VERSION
from data.sources import BadInput
from data.sources.jsonl import read_jsonl
from data.warehouse import open_reader, open_writer


def test_astro_warehouse_has_every_astro_document_and_vector(astro_warehouse):
    with open_reader(astro_warehouse) as con:
        n_docs = con.execute("SELECT count(*) FROM docs").fetchall()[0][0]
        outside = con.execute(
            "SELECT count(*) FROM docs WHERE NOT list_bool_or([c LIKE 'astro-ph%' for c in categories])"
        ).fetchall()[0][0]
        version = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
        doc_ids, matrix = load_embeddings(con, "all-MiniLM-L6-v2")
    assert n_docs == 12_623  # the shared README's count for the astro corpus
    assert outside == 0
    assert version == SCHEMA_VERSION
    assert matrix.shape == (12_623, 384)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-3)
    assert (np.diff(doc_ids) > 0).all()


def test_reingest_neither_loses_nor_duplicates(astro_warehouse, shared_data_dir):
    corpus = load_corpus_config("astro")
    stats = IngestStats()
    with open_writer(astro_warehouse) as con:
        before = con.execute("SELECT arxiv_id, doc_id FROM docs ORDER BY doc_id").fetchall()
        ingest_documents(
            con,
            read_jsonl(shared_data_dir / "arxiv_abstracts.jsonl.gz", BadInput(stats, False)),
            corpus,
            "again",
            stats,
        )
        after = con.execute("SELECT arxiv_id, doc_id FROM docs ORDER BY doc_id").fetchall()
    assert before == after
    assert stats.inserted == 0 and stats.updated == 0 and stats.unchanged == 12_623
