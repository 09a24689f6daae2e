"""`just bench report`: the wall time of `just report <corpus>` against its 60-second target.

Runs the command itself (a fresh Python process, as a user would) twice on a temporary copy of the
warehouse (the original is untouched): first with the label embeddings removed from the copy's
embedding cache (labels the report must embed itself, e.g. LLM labels), then again with them cached
(as after `just interpret`, which caches the vectors of the labels it scores). Prints the
workload, the hardware, both wall times and the phases each run stored with its card, next to the
floor: a fresh process that imports the report and only reads its inputs from the same copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.embed.local import LOCAL_MODEL
from data.machine import describe_machine
from data.settings import warehouse_path
from data.text import text_hash
from data.warehouse import open_reader, open_writer
from evals.report.card import stored_report
from evals.report.labels import stored_labels
from evals.saes import pick_sae

TARGET_S = 60.0

_FLOOR = """
import sys
from data.warehouse import open_reader
from evals.report.card import build_report  # the same imports as the command
from evals.report.inputs import load_inputs
from evals.saes import complete_sae
with open_reader(sys.argv[1]) as con:
    load_inputs(con, complete_sae(con, int(sys.argv[2])))
"""


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just bench report", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="astro")
    parser.add_argument("--warehouse", type=Path, default=None, help="default: artifacts/<corpus>.duckdb")
    parser.add_argument("--sae-id", type=int, default=None, help="default: the newest complete SAE of the corpus")
    args = parser.parse_args(argv)
    source = args.warehouse or warehouse_path(args.corpus)
    console = Console(width=140)
    with open_reader(source) as con:
        sae = pick_sae(con, args.corpus, args.sae_id)
        labels = stored_labels(con, sae.sae_id).label
        docs = con.execute("SELECT count(*), count(*) FILTER (WHERE split = 'test') FROM docs").fetchall()[0]
        nnz = con.execute("SELECT count(*) FROM activations WHERE sae_id = ?", [sae.sae_id]).fetchall()[0][0]
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / source.name
        shutil.copy(source, copy)
        with open_writer(copy) as con:  # a cold label cache: the report embeds every label
            con.execute(
                "DELETE FROM embeddings WHERE model = ? AND text_hash IN (SELECT unnest(?::VARCHAR[]))",
                [LOCAL_MODEL, [text_hash(label) for label in labels]],
            )
        command = [
            sys.executable,
            "-m",
            "evals.report",
            args.corpus,
            "--warehouse",
            str(copy),
            "--sae-id",
            str(sae.sae_id),
        ]
        runs = []
        for name in ("labels not cached (embedded)", "labels cached (after interpret)"):
            wall = timed(command)
            with open_reader(copy) as con:
                report = stored_report(con, sae.sae_id)
            if report is None:
                raise RuntimeError(f"`just report` stored no card for SAE {sae.sae_id} in {copy}")
            runs.append((name, wall, report["seconds"]))
        floor = timed([sys.executable, "-c", _FLOOR, str(copy), str(sae.sae_id)])

    work = Table(title="workload and hardware")
    work.add_column("what")
    work.add_column("value")
    work.add_row("SAE", f"id {sae.sae_id}: n = {sae.n_latents}, k = {sae.k}, {sae.embed_model}")
    work.add_row(
        "corpus", f"{docs[0]} documents ({docs[1]} test), {nnz} stored activations, {len(labels)} stored labels"
    )
    work.add_row("hardware", describe_machine())
    console.print(work)
    table = Table(title=f"`just report {args.corpus}` wall time (fresh process) vs the {TARGET_S:.0f} s target")
    for column in ("run", "wall (s)", "x target", "x floor", "phases (s)"):
        table.add_column(column, justify="right")
    table.add_row("floor: imports + read inputs", f"{floor:.1f}", f"{floor / TARGET_S:.2f}", "1.00", "")
    for name, wall, phases in runs:
        table.add_row(
            name,
            f"{wall:.1f}",
            f"{wall / TARGET_S:.2f}",
            f"{wall / floor:.2f}",
            ", ".join(f"{k} {v:.1f}" for k, v in phases.items()),
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
