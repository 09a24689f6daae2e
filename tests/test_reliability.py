"""Reliability, bad input: one test per class of bad input (README, "Bad input"), as a user meets it.

Real files, real command-line processes, the local fake OpenAI server. 1 bad vectors refused and named;
4 bad lines skipped, truncated archives kept; 5 altered inputs counted; 6 exit codes. (2 and 8:
test_reliability_processes.py; 3, 7 and 9: test_reliability_messages.py.)
"""

from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.embeddings import EmbeddingError, load_embeddings
from data.warehouse import open_reader, open_writer
from tests.fake_openai import Fault
from tests.reliability_support import MODEL, astro_records, cli, last_ingest, one, write_jsonl

# -- 1. silently stored bad data ------------------------------------------------------------------


def test_1_zero_nan_inf_vectors_are_refused_naming_documents_and_stored_ones_name_the_fix(
    tmp_path, shared_sample, trained_astro_copy, shared_data_dir
):
    records = astro_records(shared_sample, 6)
    ids = [r["arxiv_id"] for r in records]
    jsonl = write_jsonl(tmp_path / "docs.jsonl", records)
    vectors = np.random.default_rng(0).standard_normal((6, 384)).astype(np.float32)
    vectors[4] = 0.0  # an all-zero vector: was stored with exit code 0
    parquet = tmp_path / "vectors.parquet"
    pq.write_table(
        pa.table({"arxiv_id": ids, "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 384)}),
        parquet,
    )
    warehouse = tmp_path / "fresh.duckdb"
    result = cli(
        "data",
        "ingest",
        "astro",
        "--jsonl",
        str(jsonl),
        "--embeddings",
        str(parquet),
        "--warehouse",
        str(warehouse),
        "--no-embed",
    )
    assert result.returncode == 2, result.stderr
    assert f"documents {ids[4]} (row 4)" in result.stderr and "zero" in result.stderr
    assert not warehouse.exists()  # refused before anything was written

    vectors[4] = 1.0
    vectors[2, 7] = np.inf
    np.save(tmp_path / "abstract_embeddings.npy", vectors)
    (tmp_path / "abstract_texts.json").write_text(
        json.dumps({"doc_ids": ids, "abstracts": [r["abstract"] for r in records]})
    )
    result = cli(
        "data",
        "ingest",
        "astro",
        "--embeddings",
        str(tmp_path / "abstract_embeddings.npy"),
        "--warehouse",
        str(warehouse),
    )
    assert result.returncode == 2 and f"documents {ids[2]} (row 2)" in result.stderr

    # a warehouse written before such vectors were refused: every reader names the document and the fix
    path = trained_astro_copy.path
    with open_writer(path) as con:
        doc, arxiv_id = con.execute("SELECT doc_id, arxiv_id FROM docs ORDER BY doc_id LIMIT 1 OFFSET 100").fetchall()[
            0
        ]
        con.execute(
            "UPDATE embeddings SET vec = list_transform(vec, lambda x: 0.0::FLOAT) "
            "WHERE text_hash = (SELECT text_hash FROM docs WHERE doc_id = ?)",
            [doc],
        )
    result = cli("evals.fidelity", "astro", "--warehouse", str(path))
    assert (
        result.returncode == 2
        and arxiv_id in result.stdout + result.stderr
        and "just data" in result.stdout + result.stderr
    )
    assert "Traceback" not in result.stderr
    from evals.steering.search import SteerableSearch

    with pytest.raises(EmbeddingError, match=rf"e.g. documents \['{arxiv_id}'\]; `just data <corpus>`"):
        SteerableSearch(path, trained_astro_copy.sae_ids[0])

    # the one command named: it removes the bad vector, counts it, and the document gets a valid one again
    result = cli("data", "ingest", "astro", "--warehouse", str(path), env={"SAE_ATLAS_DATA_DIR": str(shared_data_dir)})
    assert result.returncode == 0, result.stderr
    assert f"removed 1 stored vectors that were zero or held NaN/inf (documents {arxiv_id})" in result.stderr
    with open_reader(path) as con:
        doc_ids, matrix = load_embeddings(con, MODEL)
    assert doc in doc_ids and np.linalg.norm(matrix[list(doc_ids).index(doc)]) > 0.5


# -- 4. one bad line aborts a whole file --------------------------------------------------------------


def test_4_invalid_utf8_lines_are_skipped_as_file_line_and_a_truncated_gz_keeps_what_was_read(tmp_path, shared_sample):
    records = astro_records(shared_sample, 60)
    lines = [json.dumps(r).encode() + b"\n" for r in records]
    lines[4] = (
        b'{"arxiv_id": "2401.99999", "title": "Caf\xe9 latin-1", "abstract": "x", "categories": ["astro-ph.GA"]}\n'
    )
    data = b"".join(lines)
    packed = gzip.compress(data)
    archive = tmp_path / "listing.jsonl.gz"
    archive.write_bytes(packed[: len(packed) * 2 // 3])  # a download cut short
    readable = []
    try:
        with gzip.open(archive, "rb") as handle:
            readable.extend(handle)
    except EOFError:
        pass
    last_good = len(readable)
    assert 5 < last_good < len(records)

    warehouse = tmp_path / "astro.duckdb"
    result = cli("data", "ingest", "astro", "--jsonl", str(archive), "--no-embed", "--warehouse", str(warehouse))
    assert result.returncode == 0, result.stderr
    assert f"{archive}:5: not valid UTF-8 (byte 0xe9 at column" in result.stderr
    assert f"{archive}: the file ends early after line {last_good}" in result.stderr
    assert one(warehouse, "SELECT count(*) FROM docs") == last_good - 1  # every good line before the damage
    summary = last_ingest(warehouse)["documents"]
    assert summary["malformed"] == 1 and summary["cut_short"] == 1

    strict = cli(
        "data",
        "ingest",
        "astro",
        "--jsonl",
        str(archive),
        "--no-embed",
        "--warehouse",
        str(tmp_path / "s.duckdb"),
        "--strict",
    )
    assert (
        strict.returncode == 2 and f"{archive}:5: not valid UTF-8" in strict.stderr and "Traceback" not in strict.stderr
    )

    # the same reader behind CSV: a bad line is named by its line number and the rows around it are kept
    csv_file = tmp_path / "more.csv"
    rows = [f'"Title {i}","Abstract {i} on the stellar initial mass function"\n'.encode() for i in range(4)]
    rows[2] = b'"Na\xefve title","An abstract"\n'
    csv_file.write_bytes(b"title,abstract\n" + b"".join(rows))
    result = cli(
        "data", "ingest", "astro", "--csv", str(csv_file), "--no-embed", "--warehouse", str(tmp_path / "c.duckdb")
    )
    assert result.returncode == 0 and f"{csv_file}:4: not valid UTF-8" in result.stderr
    assert one(tmp_path / "c.duckdb", "SELECT count(*) FROM docs") == 3


# -- 5. inputs silently changed --------------------------------------------------------------------


def test_5_large_fields_are_read_alike_in_csv_and_jsonl_and_altered_texts_are_counted(
    tmp_path, shared_sample, trained_astro
):
    record = astro_records(shared_sample, 1)[0]
    huge = {**record, "abstract": "A very long abstract about stellar streams. " * 4700}  # ~200 kB
    assert len(huge["abstract"]) > 200_000
    jsonl = write_jsonl(tmp_path / "huge.jsonl", [huge])
    csv_file = tmp_path / "huge.csv"
    with open(csv_file, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arxiv_id", "title", "abstract", "categories"])
        writer.writerow([huge["arxiv_id"], huge["title"], huge["abstract"], " ".join(huge["categories"])])
    for source, path in (("--jsonl", jsonl), ("--csv", csv_file)):
        warehouse = tmp_path / f"{path.suffix[1:]}.duckdb"
        result = cli("data", "ingest", "astro", source, str(path), "--no-embed", "--warehouse", str(warehouse))
        assert result.returncode == 0, result.stderr
    hashes = {
        one(tmp_path / f"{kind}.duckdb", "SELECT text_hash FROM docs WHERE arxiv_id = ?", [huge["arxiv_id"]])
        for kind in ("jsonl", "csv")
    }
    assert len(hashes) == 1  # the same document, whatever the format

    # the local model: a text beyond its 256-token window and one of mostly unknown tokens, counted and named
    small = tmp_path / "mixed.csv"
    with open(small, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arxiv_id", "title", "abstract"])
        writer.writerow(["2401.00001", "Short", record["abstract"][:300]])
        writer.writerow(["2401.00002", "Long", " ".join([record["abstract"]] * 4)])
        writer.writerow(
            ["2401.00003", "星系", "我们研究了星系的形成与演化，利用深度巡天数据测量了红移分布和恒星形成率。"]
        )
    warehouse = tmp_path / "local.duckdb"
    result = cli("data", "ingest", "astro", "--csv", str(small), "--warehouse", str(warehouse))
    assert result.returncode == 0, result.stderr
    embedded = last_ingest(warehouse)["embedded"]
    assert embedded["stored"] == 3 and embedded["cut"] == 1 and embedded["mostly_unknown"] == 1
    assert "embedded from their beginning (e.g. 2401.00002)" in result.stderr
    assert "mostly tokens all-MiniLM-L6-v2 does not know (e.g. 2401.00003)" in result.stderr

    # a latent id of 1.5 is refused, not truncated to latent 1
    from evals.steering.errors import LatentOutOfRange
    from evals.steering.search import SteerableSearch

    search = SteerableSearch(trained_astro.path, trained_astro.sae_ids[0])
    query = search.embed("dark matter halos")
    assert search.clamp(query, {1.0: 2.0}).shape == query.shape  # a whole number given as a float is fine
    with pytest.raises(LatentOutOfRange, match=r"latent ids \[1.5\] are not whole numbers"):
        search.clamp(query, {1.5: 2.0})
    with pytest.raises(LatentOutOfRange, match="not whole numbers"):
        search.steer(query, up=[(2.5, 1.0)])


# -- 6. exit codes that hide failure ------------------------------------------------------------------


def test_6_documents_left_without_vectors_exit_3_and_a_hung_server_costs_the_configured_attempts(
    tmp_path, shared_sample, fake_openai
):
    jsonl = write_jsonl(tmp_path / "docs.jsonl", astro_records(shared_sample, 5))
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "test"}
    args = [
        "data",
        "ingest",
        "astro",
        "--jsonl",
        str(jsonl),
        "--embed-backend",
        "openai",
        "--embed-model",
        "fake-embedder",
    ]

    fake_openai.faults["embeddings"].extend([Fault.status_code(500)] * 10)
    result = cli(*args, "--warehouse", str(tmp_path / "failing.duckdb"), "--embed-retries", "0", env=env)
    assert result.returncode == 3, result.stderr
    assert (
        "5 of 5 documents have no fake-embedder vector" in result.stderr
        and "run the same command again" in result.stderr
    )
    fake_openai.faults["embeddings"].clear()

    fake_openai.requests["embeddings"].clear()
    fake_openai.faults["embeddings"].extend([Fault.timeout(60.0)] * 10)  # a server that hangs
    result = cli(
        *args, "--warehouse", str(tmp_path / "hung.duckdb"), "--embed-timeout", "0.5", "--embed-retries", "1", env=env
    )
    assert result.returncode == 3 and "5 of 5 documents have no fake-embedder vector" in result.stderr
    assert len(fake_openai.requests["embeddings"]) == 2  # 1 attempt + 1 retry of 0.5 s, not 6 of 60 s
    fake_openai.faults["embeddings"].clear()

    # the re-run the message asks for embeds them, and exits 0
    result = cli(*args, "--warehouse", str(tmp_path / "hung.duckdb"), env=env)
    assert result.returncode == 0, result.stderr
    assert one(tmp_path / "hung.duckdb", "SELECT count(*) FROM embeddings WHERE model = 'fake-embedder'") == 5
