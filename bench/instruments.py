"""`just bench instruments`: every research-instrument command on the default SAE, end to end, against 60 s.

Runs each command as the user does (a fresh ``python -m ...`` process, so interpreter start and imports
count) on a temporary copy of the warehouse (stored results untouched), and prints the workload, the
hardware, wall and CPU seconds per command, and the floor every command pays: a fresh process that only
imports what the commands import.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.machine import describe_machine
from data.settings import warehouse_path
from data.warehouse import open_reader
from evals.saes import pick_sae

TARGET_S = 60.0


def timed(command: list[str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s of the child, exit status, stderr) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.returncode, done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just bench instruments", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="astro")
    parser.add_argument("--warehouse", type=Path, default=None, help="default: artifacts/<corpus>.duckdb")
    parser.add_argument("--sae-id", type=int, default=None, help="default: the corpus's default SAE (data.saes)")
    parser.add_argument("--target", default="category=astro-ph.GA", help="the contrast's target")
    args = parser.parse_args(argv)
    source = args.warehouse or warehouse_path(args.corpus)
    console = Console(width=150)
    with open_reader(source) as con:
        sae = pick_sae(con, args.corpus, args.sae_id)
        n_docs, nnz = con.execute(
            "SELECT count(DISTINCT doc_id), count(*) FROM activations WHERE sae_id = ?", [sae.sae_id]
        ).fetchall()[0]
        checkpoints = [
            row[0] for row in con.execute("SELECT checkpoint FROM saes WHERE checkpoint IS NOT NULL").fetchall()
        ]
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / source.name
        shutil.copy(source, copy)
        for run in {checkpoint.split("/")[0] for checkpoint in checkpoints if "/" in checkpoint}:
            if (source.parent / run).is_dir():  # checkpoints are relative to the warehouse: link them beside the copy
                (Path(folder) / run).symlink_to(source.parent / run, target_is_directory=True)
        common = ["--warehouse", str(copy), "--sae-id", str(sae.sae_id)]
        commands = [
            (
                "imports of the three pipelines (the floor)",
                [python, "-c", "import evals.trends.pipeline, evals.contrast.pipeline, evals.export.pipeline"],
            ),
            ("just trends", [python, "-m", "evals.trends", args.corpus, *common]),
            (
                f"just contrast --target {args.target}",
                [python, "-m", "evals.contrast", args.corpus, "--target", args.target, *common],
            ),
            *[
                (
                    f"just export --format {fmt}",
                    [
                        python,
                        "-m",
                        "evals.export",
                        args.corpus,
                        "--format",
                        fmt,
                        *common,
                        "--out",
                        str(Path(folder) / fmt),
                    ],
                )
                for fmt in ("safetensors", "sentence-transformers", "parquet")
            ],
        ]
        results = [(name, *timed(command)) for name, command in commands]

    work = Table(title="workload and hardware")
    work.add_column("what")
    work.add_column("value")
    work.add_row("SAE", f"id {sae.sae_id}: n = {sae.n_latents}, k = {sae.k}, {sae.embed_model}")
    work.add_row("corpus", f"{n_docs} documents, {nnz} stored activations")
    work.add_row("hardware", describe_machine())
    console.print(work)
    floor = results[0][1]
    table = Table(title=f"each command in a fresh process (target: under {TARGET_S:.0f} s)")
    for column in ("command", "wall s", "CPU s", "wall / floor", "under target"):
        table.add_column(column, justify="right")
    failed = False
    for name, wall, cpu, status, stderr in results:
        ok = status == 0 and wall < TARGET_S
        failed |= status != 0
        if status != 0:
            console.print(f"[red]{name} failed (exit {status}):[/red]\n{stderr.strip()}")
        table.add_row(
            name,
            f"{wall:.1f}",
            f"{cpu:.1f}",
            f"{wall / floor:.1f}x",
            ("yes" if ok else "NO") + ("" if status == 0 else f" (exit {status})"),
        )
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
