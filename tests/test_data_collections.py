"""Any text collection as a corpus: CSV, JSONL and Parquet with named columns, on a non-arXiv collection
(docstrings of the Python standard library), metadata kept and queried in SQL, bad rows reported."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from data.corpus import CorpusConfig, IngestStats, TableSource, load_corpus_config
from data.docs import ingest_documents
from data.ingest import IngestRequest, ingest_corpus
from data.sources import BadInput, MalformedInput
from data.sources.table import TableFormatError, read_table
from data.split import split_of
from data.warehouse import open_reader, open_writer
from tests.text_collections import python_docstrings, write_csv


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    """60 docstrings, each with a date (its position, as days after 2020-01-01)."""
    found = python_docstrings()[::8][:60]
    assert len(found) == 60 and len({r["module"] for r in found}) > 10
    return [{**r, "added": (dt.date(2020, 1, 1) + dt.timedelta(days=i)).isoformat()} for i, r in enumerate(found)]


def _ingest(path, source: TableSource, corpus: CorpusConfig | None = None, strict: bool = False) -> IngestStats:
    corpus = corpus or CorpusConfig(name="pydocs")
    stats = IngestStats()
    with open_writer(path) as con:
        ingest_documents(con, read_table(source, BadInput(stats, strict)), corpus, f"{source.kind}:test", stats)
    return stats


def _sql(path, query: str, params=()):
    with open_reader(path) as con:
        return con.execute(query, list(params)).fetchall()


def test_a_csv_collection_keeps_ids_dates_and_every_other_column_as_queryable_metadata(tmp_path, rows):
    csv = write_csv(tmp_path / "pydocs.csv", rows)
    source = TableSource(csv, text_column="doc", title_column="name", id_column="qualname", date_column="added")
    warehouse = tmp_path / "w.duckdb"
    stats = _ingest(warehouse, source)
    assert (stats.read, stats.inserted, stats.malformed) == (60, 60, 0)
    first = rows[0]
    (stored,) = _sql(
        warehouse,
        "SELECT title, abstract, published, metadata, split, categories FROM docs WHERE arxiv_id = ?",
        [first["qualname"]],
    )
    assert stored[:3] == (first["name"], first["doc"].strip(), dt.date(2020, 1, 1))
    assert json.loads(stored[3]) == {
        "module": first["module"],
        "kind": first["kind"],
    }  # id, text, title, date are columns
    assert stored[4] == split_of(first["qualname"]) and stored[5] == []
    # Metadata is plain SQL: the JSON column, and the long view for grouping without knowing the columns.
    by_kind = dict(_sql(warehouse, "SELECT metadata->>'kind', count(*) FROM docs GROUP BY ALL"))
    assert by_kind == {k: sum(r["kind"] == k for r in rows) for k in ("class", "function")}
    grouped = _sql(
        warehouse,
        "SELECT key, value, count(*) FROM doc_metadata WHERE key = ? GROUP BY ALL ORDER BY 3 DESC, 2",
        ["module"],
    )
    expected = sorted({r["module"] for r in rows}, key=lambda m: (-sum(r["module"] == m for r in rows), m))
    assert [value for _, value, _ in grouped] == expected
    # Re-ingesting is a no-op; a changed metadata value updates the document in place.
    assert _ingest(warehouse, source).unchanged == 60
    write_csv(csv, [{**r, "kind": "renamed"} if i == 0 else r for i, r in enumerate(rows)])
    again = _ingest(warehouse, source)
    assert (again.updated, again.unchanged, again.inserted) == (1, 59, 0)
    assert _sql(warehouse, "SELECT metadata->>'kind' FROM docs WHERE arxiv_id = ?", [first["qualname"]]) == [
        ("renamed",)
    ]


def test_jsonl_and_parquet_collections_with_chosen_metadata_and_typed_values(tmp_path, rows):
    jsonl = tmp_path / "pydocs.jsonl"
    jsonl.write_text(
        "".join(json.dumps({**r, "tags": [r["module"], r["kind"]], "n": len(r["doc"])}) + "\n" for r in rows[:30])
    )
    table = pa.table(
        {
            "key": [r["qualname"] for r in rows[30:]],
            "body": [r["doc"] for r in rows[30:]],
            "when": pa.array([dt.datetime.fromisoformat(r["added"]) for r in rows[30:]], pa.timestamp("s")),
            "chars": [len(r["doc"]) for r in rows[30:]],
            "module": [r["module"] for r in rows[30:]],
        }
    )
    parquet = tmp_path / "pydocs.parquet"
    pq.write_table(table, parquet)
    warehouse = tmp_path / "w.duckdb"
    _ingest(warehouse, TableSource(jsonl, text_column="doc", id_column="qualname", metadata_columns=["tags", "n"]))
    _ingest(warehouse, TableSource(parquet, text_column="body", id_column="key", date_column="when"))
    assert _sql(warehouse, "SELECT count(*), count(published) FROM docs") == [(60, 30)]
    (jsonl_doc,) = _sql(warehouse, "SELECT title, metadata FROM docs WHERE arxiv_id = ?", [rows[0]["qualname"]])
    assert jsonl_doc[0] == "" and json.loads(jsonl_doc[1]) == {
        "tags": [rows[0]["module"], rows[0]["kind"]],
        "n": len(rows[0]["doc"]),
    }
    (parquet_doc,) = _sql(
        warehouse,
        "SELECT published, (metadata->>'chars')::INTEGER, metadata->>'module' FROM docs WHERE arxiv_id = ?",
        [rows[45]["qualname"]],
    )
    assert parquet_doc == (dt.date(2020, 1, 1) + dt.timedelta(days=45), len(rows[45]["doc"]), rows[45]["module"])


def test_rows_without_an_id_get_a_content_id_that_is_stable_across_runs(tmp_path, rows):
    csv = write_csv(tmp_path / "noid.csv", [{"body": r["doc"], "module": r["module"]} for r in rows])
    warehouse = tmp_path / "w.duckdb"
    _ingest(warehouse, TableSource(csv, text_column="body"))
    ids = {row[0] for row in _sql(warehouse, "SELECT arxiv_id FROM docs")}
    assert len(ids) == 60 and all(i.startswith("content:") and len(i) == len("content:") + 16 for i in ids)
    assert _ingest(warehouse, TableSource(csv, text_column="body")).unchanged == 60
    assert {row[0] for row in _sql(warehouse, "SELECT arxiv_id FROM docs")} == ids


def test_a_metadata_filter_keeps_only_matching_documents(tmp_path, rows):
    csv = write_csv(tmp_path / "pydocs.csv", rows)
    classes_only = CorpusConfig(name="classes", where={"kind": ["class"]})
    stats = _ingest(tmp_path / "w.duckdb", TableSource(csv, text_column="doc", id_column="qualname"), classes_only)
    n_classes = sum(r["kind"] == "class" for r in rows)
    assert 0 < n_classes < 60 and (stats.inserted, stats.outside_corpus) == (n_classes, 60 - n_classes)


def test_bad_tables_and_rows_are_named_with_file_and_line(tmp_path, rows):
    csv = write_csv(tmp_path / "pydocs.csv", rows[:3])
    with pytest.raises(TableFormatError, match=r"no column\(s\) 'body'; found \['qualname', 'name'"):
        list(read_table(TableSource(csv, text_column="body"), BadInput(IngestStats(), strict=False)))
    broken = tmp_path / "broken.csv"
    broken.write_text(
        "qualname,doc,added\n"
        "a.one,First text,2021-02-03\n"
        "a.two,Second text,not a date\n"
        "a.three,,2021-02-03\n"
        ",Fourth text,2021-02-03\n"
    )
    source = TableSource(broken, text_column="doc", id_column="qualname", date_column="added")
    stats = _ingest(tmp_path / "w.duckdb", source)
    assert (stats.inserted, stats.malformed, stats.empty_abstract) == (1, 2, 1)
    assert stats.problems == [
        f"{broken}:3: date 'not a date' is not a YYYY-MM-DD date",
        f"{broken}:4: empty or missing abstract, skipped",
        f"{broken}:5: no id in column 'qualname'",
    ]
    with pytest.raises(MalformedInput, match=f"{broken}:3: date"):
        _ingest(tmp_path / "strict.duckdb", source, strict=True)


def test_a_new_corpus_named_with_its_files_gets_a_config_and_reingests_without_arguments(tmp_path, rows, monkeypatch):
    monkeypatch.setenv("SAE_ATLAS_CORPUS_DIR", str(tmp_path / "corpora"))
    csv = write_csv(tmp_path / "pydocs.csv", [{"id": r["qualname"], **r} for r in rows])
    with pytest.raises(TableFormatError):  # a failed first ingest leaves no config behind
        ingest_corpus(IngestRequest("pydocs", tables=[TableSource(csv, text_column="body")], embed=False))
    assert not (tmp_path / "corpora" / "pydocs.yaml").exists()
    first = ingest_corpus(IngestRequest("pydocs", tables=[TableSource(csv, text_column="doc")], embed=False))
    assert first.documents.inserted == 60
    config = yaml.safe_load((tmp_path / "corpora" / "pydocs.yaml").read_text())
    assert config["sources"] == [{"path": str(csv.resolve()), "text_column": "doc"}]
    assert load_corpus_config("pydocs").sources == [TableSource(csv.resolve(), text_column="doc")]
    second = ingest_corpus(IngestRequest("pydocs", embed=False))  # reads the sources the config names
    assert (second.documents.read, second.documents.unchanged) == (60, 60)
    assert _sql(second.warehouse, "SELECT count(*) FROM docs WHERE arxiv_id = ?", [rows[0]["qualname"]]) == [(1,)]
