"""Reliability, processes: kill -9 during training (2) and writers and readers in separate processes (8).

Real command-line processes, real DuckDB files, the local fake arXiv server.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data.warehouse import WarehouseBusy, open_reader, open_writer
from tests.fake_arxiv import FakeArxiv
from tests.reliability_support import REPO, astro_records, one

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
while "resuming the unfinished run" not in log.read_text():
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
    assert process.stdout is not None and process.stdout.readline().strip() == "open"
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
