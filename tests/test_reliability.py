"""Reliability: one test per class of bad input or fault (README, "Bad input"), as a user meets it.

Real files, real command-line processes (kill -9 included), the local fake OpenAI and arXiv servers.
1 bad vectors refused and named; 2 metrics.csv whole after kills; 3 no tracebacks for a bad warehouse;
4 bad lines skipped, truncated archives kept; 5 altered inputs counted; 6 exit codes; 7 moved folders;
8 writers wait for readers, the crawl lets readers in; 9 hints that fit the case.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.embeddings import EmbeddingError, load_embeddings
from data.warehouse import WarehouseBusy, open_reader, open_writer
from tests.dashboard_support import fresh_streamlit_caches, open_app  # noqa: F401 (fixture)
from tests.fake_arxiv import FakeArxiv
from tests.fake_openai import Fault

REPO = Path(__file__).resolve().parent.parent
MODEL = "all-MiniLM-L6-v2"


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m <args>`` as a user runs it (wide console, so messages are not wrapped)."""
    environment = {**os.environ, "COLUMNS": "1000", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout
    )


def one(path: Path, sql: str, params=()):
    with open_reader(path) as con:
        return con.execute(sql, list(params)).fetchall()[0][0]


def astro_records(shared_sample: list[dict], n: int) -> list[dict]:
    return [r for r in shared_sample if any(c.startswith("astro-ph") for c in r["categories"])][:n]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def last_ingest(path: Path) -> dict:
    return json.loads(
        one(path, "SELECT stats FROM ingest_runs WHERE run_id LIKE 'ingest:%' ORDER BY started_at DESC LIMIT 1")
    )


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


# -- 2. training logs lost on resume ----------------------------------------------------------------

STEPS = 120
TRAIN = dict(
    n_latents=96,
    k=8,
    batch_size=128,
    max_steps=STEPS,
    checkpoint_every=20,
    dead_after_samples=256,
    lr=1e-3,
    enable_progress_bar=False,
    val_check_interval=60,
)


READ_AFTER_RESUME = """
import duckdb, pathlib, sys, time
log = pathlib.Path(sys.argv[2])
while "Restored all states" not in log.read_text():
    time.sleep(0.01)
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
time.sleep(600)
"""


def _metrics(run_dir: Path) -> list[tuple[int, float]]:
    """(step, train/loss) of every training row of a run's metrics.csv, in file order."""
    with open(run_dir / "logs" / "metrics.csv", newline="") as file:
        return [(int(row["step"]), float(row["train/loss"])) for row in csv.DictReader(file) if row.get("train/loss")]


def _wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_2_metrics_csv_is_the_whole_log_after_kill_9_in_training_and_in_the_final_write(astro_warehouse, tmp_path):
    straight = tmp_path / "straight" / "astro.duckdb"
    straight.parent.mkdir()
    shutil.copy(astro_warehouse, straight)
    from trainer.api import cli_args, train_sae

    train_sae(straight, "astro", **TRAIN)
    reference = _metrics(straight.parent / "astro_runs" / "sae_1")
    assert [step for step, _ in reference] == list(range(STEPS))

    run_dir = astro_warehouse.parent / "astro_runs" / "sae_1"
    command = [sys.executable, "-m", "trainer", "train", *cli_args(astro_warehouse, "astro", **TRAIN)]
    log = tmp_path / "train.log"
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        # kill -9 mid-fit, once a checkpoint (and the rows flushed with it) is on disk
        _wait_for(
            lambda: (run_dir / "logs" / "metrics.csv").exists() and len(_metrics(run_dir)) >= 40,
            600,
            "the step-40 checkpoint",
        )
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert one(astro_warehouse, "SELECT status FROM saes WHERE sae_id = 1") == "training"

    # resume, but a reader process holds the warehouse at the final write: kill -9 while the writer waits.
    # The run registers itself as a writer first, so the reader opens the file once the fit has resumed.
    with open(log, "w") as out:
        reader = subprocess.Popen(
            [sys.executable, "-c", READ_AFTER_RESUME, str(astro_warehouse), str(log)], stdout=subprocess.PIPE, text=True
        )
        try:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SAE_ATLAS_WRITER_WAIT_S": "600"},
            )
            assert reader.stdout.readline().strip() == "open"
            _wait_for(lambda: "waiting up to 600 s" in log.read_text(), 600, "the final write to wait for the reader")
            process.send_signal(signal.SIGKILL)
            process.wait()
        finally:
            reader.kill()
            reader.wait()
    assert one(astro_warehouse, "SELECT status FROM saes WHERE sae_id = 1") == "training"

    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert one(astro_warehouse, "SELECT status FROM saes WHERE sae_id = 1") == "complete"
    resumed = _metrics(run_dir)
    assert [step for step, _ in resumed] == list(range(STEPS))  # the whole log, every step once, in order
    assert [loss for _, loss in resumed] == pytest.approx([loss for _, loss in reference], abs=1e-5)


# -- 3. raw tracebacks -------------------------------------------------------------------------------


def _bad_warehouses(folder: Path, template: Path) -> dict[str, Path]:
    folder.mkdir()
    not_duckdb = folder / "notes.duckdb"
    not_duckdb.write_text("arxiv_id,title\n2401.00001,not a database\n" * 100)
    truncated = folder / "truncated.duckdb"
    shutil.copy(template, truncated)
    with open(truncated, "r+b") as handle:
        handle.truncate(truncated.stat().st_size // 2)
    return {"not DuckDB": not_duckdb, "truncated": truncated}


def _commands(warehouse: Path, csv_file: Path) -> dict[str, tuple[list[str], dict]]:
    w = str(warehouse)
    artifacts = {
        "SAE_ATLAS_ARTIFACTS": str(warehouse.parent / f"{warehouse.stem}_artifacts")
    }  # interp reads <artifacts>/astro.duckdb
    return {
        "ingest": (["data", "ingest", "astro", "--csv", str(csv_file), "--no-embed", "--warehouse", w], {}),
        "train": (["trainer", "train", "astro", "--warehouse", w, "--trainer.max_steps", "1"], {}),
        "interp": (["evals.interp", "astro"], artifacts),
        "families": (["evals.families", "astro", "--warehouse", w], {}),
        "steer-bench": (["evals.steering", "bench", "astro", "--warehouse", w], {}),
        "fidelity": (["evals.fidelity", "astro", "--warehouse", w], {}),
        "splits": (["evals.splits", "astro", "--warehouse", w], {}),
    }


def test_3_a_non_duckdb_or_truncated_warehouse_is_one_clear_message_and_exit_2_in_every_command(
    tmp_path, astro_warehouse_template
):
    csv_file = tmp_path / "docs.csv"
    csv_file.write_text("title,abstract\nA title,An abstract about galaxies.\n")
    for kind, warehouse in _bad_warehouses(tmp_path / "bad", astro_warehouse_template).items():
        content = warehouse.read_bytes()
        artifacts = warehouse.parent / f"{warehouse.stem}_artifacts"
        artifacts.mkdir()
        (artifacts / "astro.duckdb").symlink_to(warehouse)
        commands = _commands(warehouse, csv_file)
        if kind == "truncated":  # the same code path for every command: three suffice here
            commands = {name: commands[name] for name in ("ingest", "train", "fidelity")}
        for name, (args, env) in commands.items():
            result = cli(*args, env=env)
            output = result.stdout + result.stderr
            assert result.returncode == 2, (kind, name, output)
            assert "Traceback" not in output, (kind, name, output)
            assert "is not a readable SAE Atlas warehouse" in output and warehouse.name in output, (kind, name, output)
            assert "rebuild it with `just data <corpus>`" in output, (kind, name, output)
        assert warehouse.read_bytes() == content  # nothing was written to it


def test_3_the_dashboard_explains_a_bad_warehouse_and_a_model_it_cannot_embed_queries_with(
    monkeypatch, tmp_path, astro_warehouse_template, trained_astro_copy
):
    for warehouse in _bad_warehouses(tmp_path / "bad", astro_warehouse_template).values():
        at = open_app(monkeypatch, warehouse)
        assert "is not a readable SAE Atlas warehouse" in at.error[0].value

    # an SAE on text-embedding-3-small vectors while the corpus's backend is the local model
    path = trained_astro_copy.path
    with open_writer(path) as con:
        con.execute("UPDATE embeddings SET model = 'text-embedding-3-small'")
        con.execute("UPDATE saes SET embed_model = 'text-embedding-3-small'")
    at = open_app(monkeypatch, path, "views/steer.py", sae_id=trained_astro_copy.sae_ids[0], timeout=120)
    at.text_input(key="steer_query").set_value("galaxy clusters").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Cannot embed the query" in at.warning[0].value and "'text-embedding-3-small'" in at.warning[0].value
    assert "is an OpenAI embedding model" in at.warning[0].value  # named as such, never asked of a model hub


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


# -- 7. moved folders --------------------------------------------------------------------------------


def test_7_checkpoints_are_found_after_the_artifacts_folder_moves(trained_astro, tmp_path):
    first, second, third = trained_astro.sae_ids
    assert (
        one(trained_astro.path, "SELECT checkpoint FROM saes WHERE sae_id = ?", [first])
        == f"astro_runs/sae_{first}/sae.pt"
    )
    old = tmp_path / "old_artifacts"
    old.mkdir()
    shutil.copy(trained_astro.path, old / "astro.duckdb")
    for sae_id in trained_astro.sae_ids:
        (old / "astro_runs" / f"sae_{sae_id}").mkdir(parents=True)
        shutil.copy(
            trained_astro.path.parent / "astro_runs" / f"sae_{sae_id}" / "sae.pt", old / "astro_runs" / f"sae_{sae_id}"
        )
    with open_writer(old / "astro.duckdb") as con:  # as versions before relative paths stored it
        con.execute(
            "UPDATE saes SET checkpoint = ? WHERE sae_id = ?",
            [str(old / "astro_runs" / f"sae_{second}" / "sae.pt"), second],
        )
    new = tmp_path / "moved" / "artifacts"
    shutil.move(old, new)

    from evals.steering.search import SteerableSearch
    from trainer.checkpoint import CheckpointError, load_sae_from_warehouse

    query = None
    for sae_id in (first, second):  # a relative path, and an absolute one of the old folder
        search = SteerableSearch(new / "astro.duckdb", sae_id)
        query = search.embed("galaxy rotation curves") if query is None else query
        assert len(search.search(search.clamp(query, {0: 1.0}), top=10).doc_ids) == 10
    shutil.rmtree(new / "astro_runs" / f"sae_{third}")
    with open_reader(new / "astro.duckdb") as con, pytest.raises(CheckpointError) as error:
        load_sae_from_warehouse(con, third)
    assert str(new / "astro_runs" / f"sae_{third}" / "sae.pt") in str(error.value) and "put it back" in str(error.value)


# -- 8. writers and readers --------------------------------------------------------------------------


def _hold_reader(path: Path, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(float(sys.argv[2]))",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "open"
    return process


def test_8_a_writer_waits_for_a_reader_process_and_the_arxiv_crawl_lets_readers_in(
    tmp_path, shared_sample, monkeypatch, caplog
):
    path = tmp_path / "astro.duckdb"
    with open_writer(path):
        pass
    reader = _hold_reader(path, 3.0)
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="data.warehouse"), open_writer(path) as con:
        con.execute("SELECT 1")
    reader.wait()
    assert time.monotonic() - started >= 1.0  # it waited for the reader instead of failing
    assert "another process has it open" in caplog.text and "SAE_ATLAS_WRITER_WAIT_S" in caplog.text

    monkeypatch.setenv("SAE_ATLAS_WRITER_WAIT_S", "0.5")
    reader = _hold_reader(path, 5.0)
    with (
        pytest.raises(
            WarehouseBusy, match="stayed open in another process for 0.5 s, so nothing could be written; close"
        ),
        open_writer(path),
    ):
        pass
    reader.kill()
    reader.wait()

    # the crawl (3 s between pages, as arXiv asks) holds the writer only while storing a page
    records = [{**r, "published": r["listing_date"]} for r in astro_records(shared_sample, 30)]
    crawl_path = tmp_path / "crawl.duckdb"
    with FakeArxiv(records) as server:
        server.max_page = 10  # three pages, two 3 s pauses
        crawl = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "data",
                "ingest",
                "astro",
                "--arxiv",
                "--max-results",
                "30",
                "--no-embed",
                "--warehouse",
                str(crawl_path),
            ],
            cwd=REPO,
            env={**os.environ, "SAE_ATLAS_ARXIV_URL": server.url, "SAE_ATLAS_WRITER_WAIT_S": "60"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        reads_during_crawl = 0
        while crawl.poll() is None:
            try:
                with open_reader(crawl_path, wait_s=0) as con:
                    if con.execute("SELECT count(*) FROM docs").fetchall()[0][0] > 0 and crawl.poll() is None:
                        reads_during_crawl += 1
            except Exception:  # not created yet, or a page being stored right now
                pass
            time.sleep(0.2)
        _, stderr = crawl.communicate()
    assert crawl.returncode == 0, stderr
    assert one(crawl_path, "SELECT count(*) FROM docs") == 30
    assert reads_during_crawl >= 3  # readers got in during the pauses between pages


# -- 9. misleading hints -------------------------------------------------------------------------------


def test_9_hints_fit_the_case(trained_astro_copy):
    from evals.saes import UnknownSAE, complete_sae
    from trainer.api import train_sae

    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    tiny = dict(batch_size=128, max_steps=1, enable_progress_bar=False, logger=False)
    with pytest.raises(ValueError) as error:
        train_sae(path, "astro", n_latents=64, k=0, **tiny)
    assert "pick k >= 1" in str(error.value) and "smaller k" not in str(error.value)
    with pytest.raises(
        ValueError, match=r"k_aux was not set, and its default 2k = 80 exceeds n_latents=64; set k_aux <= 64"
    ):
        train_sae(path, "astro", n_latents=64, k=40, **tiny)
    assert one(path, "SELECT count(*) FROM saes") == len(trained_astro_copy.sae_ids)  # refused before registering

    with open_writer(path) as con:
        con.execute(
            "UPDATE saes SET status = 'failed', metrics = ?::JSON WHERE sae_id = ?",
            [json.dumps({"error": "NonFiniteError: step 2: the loss is not finite"}), sae_id],
        )
    with open_reader(path) as con, pytest.raises(UnknownSAE) as error:
        complete_sae(con, sae_id)
    message = str(error.value)
    assert (
        "its training failed (NonFiniteError: step 2: the loss is not finite)" in message
        and "wait until" not in message
    )
    result = cli("evals.steering", "bench", "astro", "--warehouse", str(path), "--sae-id", str(sae_id))
    assert result.returncode == 2 and "its training failed" in result.stdout + result.stderr

    result = cli("trainer", "train", "nosuchcorpus")
    assert result.returncode == 2 and "config=" not in result.stderr
    assert "unknown corpus 'nosuchcorpus'" in result.stderr and "astro, cslg" in result.stderr
    assert "just data nosuchcorpus --csv reviews.csv --text-column body" in result.stderr  # how to create one
