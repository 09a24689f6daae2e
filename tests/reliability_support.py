"""Helpers of the reliability tests (tests/test_reliability*.py): commands as a user runs them, small reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from data.warehouse import open_reader

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
