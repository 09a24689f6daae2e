"""The test split: stable by id, the same in Python and SQL, backfilled on old warehouses, never trained on."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

from data.corpus import IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.schema import MIGRATIONS, migrate
from data.sources import BadInput
from data.sources.jsonl import read_jsonl
from data.split import DEFAULT_TEST_FRACTION, TEST, assign_splits, split_of, split_sql
from data.warehouse import open_reader, open_writer
from trainer.datamodule import EmbeddingDataModule


def _splits(path) -> dict[str, str]:
    with open_reader(path) as con:
        return dict(con.execute("SELECT arxiv_id, split FROM docs").fetchall())


def test_sql_and_python_agree_and_the_share_is_the_fraction(astro_warehouse_template):
    stored = _splits(astro_warehouse_template)
    assert all(split == split_of(arxiv_id) for arxiv_id, split in stored.items())
    share = sum(split == TEST for split in stored.values()) / len(stored)
    assert abs(share - DEFAULT_TEST_FRACTION) < 0.01, share
    con = duckdb.connect()
    for fraction in (0.05, 0.3):
        ids = list(stored)[:500]
        con.execute("CREATE OR REPLACE TABLE ids (arxiv_id VARCHAR)")
        con.executemany("INSERT INTO ids VALUES (?)", [[i] for i in ids])
        in_sql = dict(con.execute(f"SELECT arxiv_id, {split_sql()} FROM ids", [fraction]).fetchall())
        assert in_sql == {i: split_of(i, fraction) for i in ids}


def test_adding_documents_never_moves_an_old_one(tmp_path, shared_data_dir):
    corpus = load_corpus_config("astro")
    path = tmp_path / "grow.duckdb"
    records = list(read_jsonl(shared_data_dir / "arxiv_abstracts.jsonl.gz", BadInput(IngestStats(), strict=True)))
    with open_writer(path) as con:
        ingest_documents(con, records[:3000], corpus, "first", IngestStats())
    before = _splits(path)
    with open_writer(path) as con:
        ingest_documents(con, records[3000:9000], corpus, "second", IngestStats())
    after = _splits(path)
    assert len(after) > len(before) > 100
    assert {i: after[i] for i in before} == before


def test_a_warehouse_from_before_the_split_gets_it_on_open(tmp_path, astro_warehouse_template):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    for statement in MIGRATIONS[0][1]:
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.execute(f"ATTACH '{astro_warehouse_template}' AS src (READ_ONLY)")
    con.execute("INSERT INTO docs SELECT * EXCLUDE (split, metadata) FROM src.docs")
    con.execute("DETACH src")
    migrate(con)
    con.close()
    assert _splits(path) == _splits(astro_warehouse_template)


def test_changing_the_fraction_under_a_trained_sae_is_refused(trained_astro_copy):
    before = _splits(trained_astro_copy.path)
    with open_writer(trained_astro_copy.path) as con:
        assert assign_splits(con, DEFAULT_TEST_FRACTION, "astro") == 0
        with pytest.raises(ValueError, match="test_fraction 0.2 would move .* SAEs"):
            assign_splits(con, 0.2, "astro")
    assert _splits(trained_astro_copy.path) == before


def test_no_sae_trains_or_validates_on_the_test_split(trained_astro):
    data = EmbeddingDataModule("astro", warehouse=str(trained_astro.path))
    data.setup()
    with open_reader(trained_astro.path) as con:
        test_ids = {row[0] for row in con.execute("SELECT doc_id FROM docs WHERE split = 'test'").fetchall()}
        metrics = [json.loads(row[0]) for row in con.execute("SELECT metrics FROM saes ORDER BY sae_id").fetchall()]
    assert test_ids and set(data.doc_ids[data.test_rows]) == test_ids
    assert not test_ids & set(data.doc_ids[data.train_rows]) and not test_ids & set(data.doc_ids[data.val_rows])
    assert len(data.train_rows) + len(data.val_rows) + len(test_ids) == len(data.doc_ids)
    for stored in metrics:
        assert stored["test_docs"] == len(test_ids)
        assert stored["train_docs"] == len(data.train_rows)
        # the SAE fits what it trained on better than what it never saw
        assert stored["train_fvu"] < stored["test_fvu"]
        assert np.isfinite(stored["test_fvu"])
