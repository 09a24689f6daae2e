"""The SQL client the README promises: the DuckDB 1.5 shell (PyPI duckdb-cli) on our warehouse files."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def test_duckdb_shell_reads_the_warehouse(astro_warehouse):
    shell = shutil.which("duckdb")
    if shell is None:
        pytest.fail("the `duckdb` shell is missing: install the dev extra (pip install -e '.[dev]')")
    result = subprocess.run(
        [
            shell,
            "-readonly",
            "-csv",
            str(astro_warehouse),
            "-c",
            "SELECT count(*) AS n FROM docs; SELECT count(*) AS n FROM embeddings WHERE model = 'all-MiniLM-L6-v2'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["n", "12623", "n", "12623"]
