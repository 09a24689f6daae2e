"""Every file source: snapshot and listing JSONL, CSV, the paper's .npy + abstract_texts.json, Parquet."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.corpus import IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.embeddings import EmbeddingError, load_embeddings
from data.sources import BadInput, MalformedInput
from data.sources.csv_source import CsvFormatError, content_id, read_csv
from data.sources.jsonl import read_jsonl
from data.sources.precomputed import PrecomputedFormatError, PrecomputedVectors, read_npy_vectors, read_parquet_vectors
from data.text import embedding_text, text_hash
from data.vector_import import import_precomputed
from data.warehouse import open_writer

ASTRO = load_corpus_config("astro")
CSLG = load_corpus_config("cslg")
MODEL = "all-MiniLM-L6-v2"


def _ingest(path, documents, corpus=ASTRO, stats=None):
    stats = stats or IngestStats()
    with open_writer(path) as con:
        ingest_documents(con, documents, corpus, "test", stats)
        rows = con.execute(
            "SELECT arxiv_id, title, abstract, categories, version, published, text_hash FROM docs ORDER BY doc_id"
        ).fetchall()
    return stats, {r[0]: r[1:] for r in rows}


def _snapshot_line(arxiv_id, title, abstract, categories, n_versions):
    versions = [{"version": f"v{i + 1}", "created": f"Mon, {i + 1} Apr 2024 10:00:00 GMT"} for i in range(n_versions)]
    return json.dumps(
        {
            "id": arxiv_id,
            "submitter": "x",
            "authors": "A. B.",
            "title": title,
            "abstract": abstract,
            "categories": categories,
            "versions": versions,
            "update_date": "2024-05-01",
        }
    )


def test_snapshot_jsonl_latest_version_wins_and_duplicates_collapse(tmp_path, shared_sample):
    astro = [r for r in shared_sample if any(c.startswith("astro-ph") for c in r["categories"])][:3]
    first, second, third = astro
    lines = [
        _snapshot_line(
            first["arxiv_id"], first["title"], "An old abstract of the first paper.", "astro-ph.GA cs.LG", 1
        ),
        _snapshot_line(second["arxiv_id"], second["title"], second["abstract"], "astro-ph.CO", 2),
        _snapshot_line(first["arxiv_id"], first["title"], first["abstract"], "astro-ph.GA", 3),  # v3 of the first
        _snapshot_line(third["arxiv_id"], third["title"], third["abstract"], "hep-th", 1),  # outside astro
    ]
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    path.write_text("\n".join(lines) + "\n")
    warehouse = tmp_path / "w.duckdb"
    stats, docs = _ingest(warehouse, read_jsonl(path, BadInput(IngestStats(), strict=True)))
    assert sorted(docs) == sorted([first["arxiv_id"], second["arxiv_id"]])
    title, abstract, categories, version, published, hash_ = docs[first["arxiv_id"]]
    assert (abstract, categories, version) == (first["abstract"], ["astro-ph.GA"], 3)
    assert published.isoformat() == "2024-04-01"  # the first version's date
    assert hash_ == text_hash(embedding_text(first["title"], first["abstract"]))
    assert stats.outside_corpus == 1

    # An older version arriving later never overwrites a newer one; a re-run changes nothing.
    older = tmp_path / "older.json"
    older.write_text(lines[0] + "\n")
    _, again = _ingest(warehouse, read_jsonl(older, BadInput(IngestStats(), strict=True)))
    assert again == docs
    stats, again = _ingest(warehouse, read_jsonl(path, BadInput(IngestStats(), strict=True)))
    assert again == docs and stats.inserted == 0 and stats.updated == 0


def test_listing_jsonl_reports_bad_lines_with_file_and_line_and_strict_aborts(tmp_path, shared_sample):
    good = [r for r in shared_sample if "cs.LG" in r["categories"]][:4]
    lines = [
        json.dumps(good[0]),
        "{not json",
        json.dumps(good[1]),
        json.dumps({**good[2], "abstract": "  "}),
        "[1, 2]",
        json.dumps({k: v for k, v in good[3].items() if k != "title"}),
        "",
    ]
    path = tmp_path / "listing.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines))
    stats = IngestStats()
    _, docs = _ingest(tmp_path / "w.duckdb", read_jsonl(path, BadInput(stats, strict=False)), CSLG, stats)
    assert sorted(docs) == sorted([good[0]["arxiv_id"], good[1]["arxiv_id"]])
    assert stats.malformed == 3 and stats.empty_abstract == 1
    assert [p.split(": ")[0] for p in stats.problems] == [f"{path}:2", f"{path}:4", f"{path}:5", f"{path}:6"]

    with pytest.raises(MalformedInput, match=f"{path}:2: not valid JSON"):
        _ingest(tmp_path / "strict.duckdb", read_jsonl(path, BadInput(IngestStats(), strict=True)), CSLG)


def _write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_columns_ids_categories_and_bad_rows(tmp_path, shared_sample):
    a, b, c = shared_sample[:3]
    path = _write_csv(
        tmp_path / "abstracts.csv",
        (
            "Title,Abstract,arxiv_id,categories,published\n"
            f'"{a["title"]}","{a["abstract"]}",{a["arxiv_id"]}v2,"astro-ph.GA, astro-ph.CO",2025-01-02\n'
            f'"{b["title"]}","Line one\nline two of a quoted multi-line abstract",,astro-ph.SR,\n'
            "only,two\n"
            f'"{c["title"]}","",{c["arxiv_id"]},astro-ph.GA,\n'
            f'"bad date","An abstract.",x1,astro-ph.GA,yesterday\n'
            f'"{c["title"]}","{c["abstract"]}",{c["arxiv_id"]},hep-th,\n'
        ),
    )
    stats = IngestStats()
    _, docs = _ingest(tmp_path / "w.duckdb", read_csv(path, BadInput(stats, strict=False)), ASTRO, stats)
    derived = content_id(b["title"], "Line one\nline two of a quoted multi-line abstract")
    assert sorted(docs) == sorted([a["arxiv_id"], derived])
    assert docs[a["arxiv_id"]][2:5] == (["astro-ph.GA", "astro-ph.CO"], 2, __import__("datetime").date(2025, 1, 2))
    assert docs[derived][1] == "Line one\nline two of a quoted multi-line abstract"
    assert derived.startswith("content:") and derived == content_id(
        b["title"], "Line one\nline two of a quoted multi-line abstract"
    )
    assert stats.malformed == 2 and stats.empty_abstract == 1 and stats.outside_corpus == 1
    # rows are reported by the line they start on (the quoted abstract spans lines 3-4)
    assert [p.split(": ")[0] for p in stats.problems] == [f"{path}:5", f"{path}:6", f"{path}:7"]

    # re-running the same file neither duplicates nor loses anything, content ids included
    stats, again = _ingest(tmp_path / "w.duckdb", read_csv(path, BadInput(IngestStats(), strict=False)), ASTRO)
    assert again == docs and stats.inserted == 0

    with pytest.raises(MalformedInput, match=f"{path}:5"):
        list(read_csv(path, BadInput(IngestStats(), strict=True)))


def test_csv_without_categories_goes_into_the_chosen_corpus_and_missing_columns_are_named(tmp_path, shared_sample):
    rows = shared_sample[:5]
    text = "id,title,abstract\n" + "".join(f'{r["arxiv_id"]},"{r["title"]}","{r["abstract"]}"\n' for r in rows)
    path = _write_csv(tmp_path / "plain.csv", text)
    _, docs = _ingest(tmp_path / "w.duckdb", read_csv(path, BadInput(IngestStats(), strict=True)), CSLG)
    assert sorted(docs) == sorted(r["arxiv_id"] for r in rows)  # astro papers, but the user chose cslg
    missing = _write_csv(tmp_path / "missing.csv", "id,name,summary\n1,a,b\n")
    with pytest.raises(
        CsvFormatError,
        match=r"missing\.csv: missing required column\(s\) title, abstract; found \['id', 'name', 'summary'\]",
    ):
        list(read_csv(missing, BadInput(IngestStats(), strict=False)))


def _paper_files(tmp_path, ids, abstracts, matrix):
    np.save(tmp_path / "abstract_embeddings.npy", matrix)
    (tmp_path / "abstract_texts.json").write_text(json.dumps({"doc_ids": ids, "abstracts": abstracts}))
    return tmp_path / "abstract_embeddings.npy"


def test_npy_import_matches_known_abstracts_creates_missing_documents_and_skips_stale_ones(
    astro_warehouse, shared_sample, tmp_path
):
    astro = [r for r in shared_sample if any(c.startswith("astro-ph") for c in r["categories"])]
    known, changed = astro[0], astro[1]
    new = {"arxiv_id": "2609.99999", "abstract": "A  brand new\nabstract about dust."}
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((3, 1536)).astype(np.float32)
    npy = _paper_files(
        tmp_path,
        [known["arxiv_id"], changed["arxiv_id"] + "v1", new["arxiv_id"]],
        [known["abstract"], "An earlier abstract.", new["abstract"]],
        matrix,
    )
    vectors = read_npy_vectors(npy)
    stats = IngestStats()
    with open_writer(astro_warehouse) as con:
        n_docs = con.execute("SELECT count(*) FROM docs").fetchall()[0][0]
        result = import_precomputed(con, ASTRO, "text-embedding-3-small", vectors, stats)
        docs = dict(con.execute("SELECT arxiv_id, text_hash FROM docs").fetchall())
        title, categories, source = con.execute(
            "SELECT title, categories, source FROM docs WHERE arxiv_id = ?", [new["arxiv_id"]]
        ).fetchall()[0]
        doc_ids, stored = load_embeddings(con, "text-embedding-3-small")
        stored_by_hash = dict(
            con.execute("SELECT text_hash, vec FROM embeddings WHERE model = 'text-embedding-3-small'").fetchall()
        )
    assert (result.new_documents, result.matched, result.stored, result.stale, result.unmatched) == (1, 2, 2, 1, 0)
    assert len(docs) == n_docs + 1 and (title, categories, source) == ("", [], "npy:abstract_embeddings.npy")
    # the known paper's vector is keyed by its full text (title + abstract), as the paper embedded it
    assert np.allclose(stored_by_hash[docs[known["arxiv_id"]]], matrix[0])
    # the new document's text is its abstract, and its vector is keyed by exactly that text
    assert docs[new["arxiv_id"]] == text_hash(embedding_text("", new["abstract"]))
    assert np.allclose(stored_by_hash[docs[new["arxiv_id"]]], matrix[2])
    assert docs[changed["arxiv_id"]] not in stored_by_hash  # computed for another abstract: not reused
    assert stored.shape == (2, 1536)


@pytest.mark.parametrize(
    "case, message",
    [
        ("lengths", "3 rows but .*abstract_texts.json lists 2 documents"),
        ("pairs", "2 doc_ids but 3 abstracts"),
        ("nan", r"1 vectors are all zero or contain NaN/inf: documents a2 \(row 1\)"),
        ("zero", r"1 vectors are all zero or contain NaN/inf: documents a3 \(row 2\)"),
        ("one_d", r"expected a \(3, dim\) matrix"),
        ("width", "width 10 but all-MiniLM-L6-v2 produces 384"),
    ],
)
def test_npy_bad_inputs_are_refused_before_anything_is_written(astro_warehouse, tmp_path, case, message):
    ids, abstracts = ["a1", "a2", "a3"], ["x one", "x two", "x three"]
    matrix = np.ones((3, 384), dtype=np.float32)
    if case == "lengths":
        ids, abstracts = ids[:2], abstracts[:2]
    if case == "pairs":
        ids = ids[:2]
    if case == "nan":
        matrix[1, 5] = np.nan
    if case == "zero":
        matrix[2] = 0
    if case == "one_d":
        matrix = np.ones(3, dtype=np.float32)
    if case == "width":
        matrix = np.ones((3, 10), dtype=np.float32)
    npy = _paper_files(tmp_path, ids, abstracts, matrix)
    with open_writer(astro_warehouse) as con:
        before = con.execute("SELECT count(*) FROM docs").fetchall()[0][0]
        with pytest.raises(PrecomputedFormatError, match=message):
            import_precomputed(con, ASTRO, MODEL, read_npy_vectors(npy), IngestStats())
        assert con.execute("SELECT count(*) FROM docs").fetchall()[0][0] == before


def test_parquet_import_and_its_bad_inputs(tmp_path, astro_warehouse):
    with open_writer(astro_warehouse) as con:
        ids = [a for (a,) in con.execute("SELECT arxiv_id FROM docs ORDER BY doc_id LIMIT 3").fetchall()]
    vectors = np.eye(3, 384, dtype=np.float32)
    good = tmp_path / "v.parquet"
    pq.write_table(
        pa.table({"arxiv_id": ids + ["9999.00000"], "embedding": [list(v) for v in vectors] + [list(vectors[0])]}), good
    )
    with open_writer(astro_warehouse) as con:
        result = import_precomputed(
            con, ASTRO, "my-model", PrecomputedVectors(good, *read_parquet_vectors(good)), IngestStats()
        )
        _, stored = load_embeddings(con, "my-model")
    assert (result.stored, result.unmatched) == (3, 1) and np.allclose(stored, vectors)

    wrong_columns = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": ["a"], "vector": [[1.0]]}), wrong_columns)
    with pytest.raises(PrecomputedFormatError, match=r"missing column\(s\) \['arxiv_id', 'embedding'\]"):
        read_parquet_vectors(wrong_columns)
    ragged = tmp_path / "r.parquet"
    pq.write_table(pa.table({"arxiv_id": ["a", "b"], "embedding": [[1.0, 2.0], [1.0]]}), ragged)
    with pytest.raises(PrecomputedFormatError, match="different widths"):
        read_parquet_vectors(ragged)
    nan = tmp_path / "n.parquet"
    pq.write_table(pa.table({"arxiv_id": ["a"], "embedding": [[float("nan"), 1.0]]}), nan)
    with pytest.raises(PrecomputedFormatError, match="NaN"):
        read_parquet_vectors(nan)
    # vectors of another width than the ones already stored for a model are refused
    narrow = tmp_path / "w.parquet"
    pq.write_table(pa.table({"arxiv_id": ids[:1], "embedding": [[1.0, 0.0]]}), narrow)
    with (
        open_writer(astro_warehouse) as con,
        pytest.raises(EmbeddingError, match="width 2 but stored vectors of this model have width 384"),
    ):
        import_precomputed(
            con, ASTRO, "my-model", PrecomputedVectors(narrow, *read_parquet_vectors(narrow)), IngestStats()
        )
