"""`python -m data ingest` end to end, as a user runs it: real processes, files, servers."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data.warehouse import open_reader
from tests.fake_arxiv import FakeArxiv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args, env=None):
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "data", "ingest", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _count(path, sql):
    with open_reader(path) as con:
        return con.execute(sql).fetchall()[0][0]


def _small_inputs(tmp_path, shared_sample):
    cslg = [r for r in shared_sample if "cs.LG" in r["categories"]][:12]
    jsonl = tmp_path / "listing.jsonl"
    lines = [json.dumps(r) for r in cslg[:8]]
    lines.insert(3, '{"arxiv_id": "2601.00001", "title": "broken')
    lines.append(json.dumps({**cslg[8], "abstract": ""}))
    jsonl.write_text("\n".join(lines) + "\n")
    csv = tmp_path / "more.csv"
    csv.write_text("title,abstract\n" + "".join(f'"{r["title"]}","{r["abstract"]}"\n' for r in cslg[9:12]))
    return jsonl, csv


def test_ingest_files_and_embed_through_an_openai_compatible_server(tmp_path, shared_sample, fake_openai):
    jsonl, csv = _small_inputs(tmp_path, shared_sample)
    warehouse = tmp_path / "cslg.duckdb"
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "test"}
    args = [
        "cslg",
        "--jsonl",
        str(jsonl),
        "--csv",
        str(csv),
        "--warehouse",
        str(warehouse),
        "--embed-backend",
        "openai",
        "--embed-model",
        "fake-embedder",
    ]
    result = _cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert f"{jsonl}:4: not valid JSON" in result.stderr  # file and line of the malformed line
    assert f"{jsonl}:10: empty or missing abstract" in result.stderr
    assert _count(warehouse, "SELECT count(*) FROM docs") == 11
    assert _count(warehouse, "SELECT count(*) FROM embeddings WHERE model = 'fake-embedder'") == 11
    sent = sum(len(b["input"]) for b in fake_openai.requests["embeddings"])
    assert sent == 11
    with open_reader(warehouse) as con:
        (run,) = con.execute("SELECT source, stats FROM ingest_runs WHERE run_id LIKE 'ingest:%'").fetchall()
    summary = json.loads(run[1])
    assert f"jsonl:{jsonl}" in run[0] and f"csv:{csv}" in run[0]
    assert summary["documents"]["malformed"] == 1 and summary["documents"]["empty_abstract"] == 1
    assert summary["embedded"]["stored"] == 11

    # --strict aborts on the malformed line, and what the first run stored is untouched
    strict = _cli(*args, "--strict", env=env)
    assert strict.returncode == 2 and f"{jsonl}:4: not valid JSON" in strict.stderr and "--strict" in strict.stderr
    assert _count(warehouse, "SELECT count(*) FROM docs") == 11

    # a plain re-run adds nothing and embeds nothing
    again = _cli(*args, env=env)
    assert again.returncode == 0
    assert _count(warehouse, "SELECT count(*) FROM docs") == 11
    assert sum(len(b["input"]) for b in fake_openai.requests["embeddings"]) == sent


def test_local_data_dir_imports_the_listing_and_its_precomputed_vectors(tmp_path, shared_sample):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with gzip.open(data_dir / "arxiv_abstracts.jsonl.gz", "wt") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in shared_sample))
    astro_ids = [r["arxiv_id"] for r in shared_sample if any(c.startswith("astro-ph") for c in r["categories"])]
    vectors = np.random.default_rng(0).standard_normal((len(shared_sample), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pq.write_table(
        pa.table(
            {
                "arxiv_id": [r["arxiv_id"] for r in shared_sample],
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 384),
            }
        ),
        data_dir / "minilm_l6_v2.parquet",
    )
    artifacts = tmp_path / "artifacts"
    result = _cli("astro", env={"SAE_ATLAS_DATA_DIR": str(data_dir), "SAE_ATLAS_ARTIFACTS": str(artifacts)})
    assert result.returncode == 0, result.stderr
    warehouse = artifacts / "astro.duckdb"
    assert _count(warehouse, "SELECT count(*) FROM docs") == len(astro_ids)
    # every astro document got its precomputed vector, so the local model never had to run
    assert _count(warehouse, "SELECT count(*) FROM embeddings WHERE model = 'all-MiniLM-L6-v2'") == len(astro_ids)
    assert "vectors embedded" not in result.stderr


def test_arxiv_api_through_the_cli_and_bad_inputs_exit_with_a_clear_error(tmp_path, shared_sample):
    records = [{**r, "published": r["listing_date"]} for r in shared_sample if "cs.LG" in r["categories"]][:20]
    warehouse = tmp_path / "cslg.duckdb"
    with FakeArxiv(records) as server:
        result = _cli(
            "cslg",
            "--arxiv",
            "--max-results",
            "15",
            "--no-embed",
            "--warehouse",
            str(warehouse),
            env={"SAE_ATLAS_ARXIV_URL": server.url},
        )
    assert result.returncode == 0, result.stderr
    assert _count(warehouse, "SELECT count(*) FROM docs") == 15
    assert [q["search_query"].split(" AND ")[0] for q in server.requests] == ["cat:cs.LG"]

    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("name,text\nx,y\n")
    result = _cli("cslg", "--csv", str(bad_csv), "--warehouse", str(warehouse))
    assert result.returncode == 2 and "missing required column(s) title, abstract" in result.stderr
    result = _cli("nosuchcorpus", "--csv", str(bad_csv))
    assert result.returncode == 2 and "unknown corpus 'nosuchcorpus'" in result.stderr and "astro" in result.stderr
    assert _count(warehouse, "SELECT count(*) FROM docs") == 15


def test_the_papers_npy_format_into_a_fresh_warehouse(tmp_path, shared_sample):
    records = shared_sample[:4]
    matrix = np.random.default_rng(1).standard_normal((4, 1536)).astype(np.float32)
    np.save(tmp_path / "abstract_embeddings.npy", matrix)
    (tmp_path / "abstract_texts.json").write_text(
        json.dumps({"doc_ids": [r["arxiv_id"] for r in records], "abstracts": [r["abstract"] for r in records]})
    )
    warehouse = tmp_path / "astro.duckdb"
    args = [
        "astro",
        "--embeddings",
        str(tmp_path / "abstract_embeddings.npy"),
        "--warehouse",
        str(warehouse),
        "--embed-backend",
        "openai",
        "--embed-model",
        "text-embedding-3-small",
    ]
    result = _cli(*args, env={"OPENAI_API_KEY": ""})  # every document has its vector: no API call needed
    assert result.returncode == 0, result.stderr
    assert (
        _count(warehouse, "SELECT count(*) FROM docs WHERE title = '' AND source = 'npy:abstract_embeddings.npy'") == 4
    )
    assert (
        _count(warehouse, "SELECT count(*) FROM embeddings WHERE model = 'text-embedding-3-small' AND dim = 1536") == 4
    )

    # the same file under the local model's name is refused: wrong width, nothing written
    result = _cli(
        "astro",
        "--embeddings",
        str(tmp_path / "abstract_embeddings.npy"),
        "--warehouse",
        str(tmp_path / "other.duckdb"),
    )
    assert result.returncode == 2 and "width 1536 but all-MiniLM-L6-v2 produces 384" in result.stderr
    assert _count(tmp_path / "other.duckdb", "SELECT count(*) FROM docs") == 0
