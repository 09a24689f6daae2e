"""`just bench data-ingest`: how long `just data <corpus>` takes on the shared files, fresh and re-run.

Workload: the shared listing JSONL and MiniLM Parquet (``SAE_ATLAS_DATA_DIR``, default ``../shared/data``)
into a fresh warehouse in a temporary folder. Baseline, in the same process: just reading and
parsing both files (no warehouse), the floor any ingest pays.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.corpus import IngestStats
from data.ingest import LOCAL_LISTING, LOCAL_VECTORS, IngestRequest, ingest_corpus
from data.machine import describe_machine
from data.settings import REPO_ROOT
from data.sources import BadInput
from data.sources.jsonl import read_jsonl
from data.sources.precomputed import read_parquet_vectors
from data.warehouse import open_reader

TARGET_S = 60.0


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just bench data-ingest", description=__doc__)
    parser.add_argument("--corpus", default="astro")
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("SAE_ATLAS_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
    os.environ["SAE_ATLAS_DATA_DIR"] = str(data_dir)
    listing, vectors = data_dir / LOCAL_LISTING, data_dir / LOCAL_VECTORS["all-MiniLM-L6-v2"]

    def read_only() -> None:
        sum(1 for _ in read_jsonl(listing, BadInput(IngestStats(), strict=False)))
        read_parquet_vectors(vectors)

    with tempfile.TemporaryDirectory() as folder:
        warehouse = Path(folder) / f"{args.corpus}.duckdb"
        request = IngestRequest(args.corpus, warehouse=warehouse)
        baseline = _timed(read_only)
        fresh = _timed(lambda: ingest_corpus(request))
        rerun = _timed(lambda: ingest_corpus(request))
        with open_reader(warehouse) as con:
            n_docs, n_vectors = con.execute(
                "SELECT (SELECT count(*) FROM docs), (SELECT count(*) FROM embeddings)"
            ).fetchall()[0]

    table = Table(title=f"data ingest: corpus {args.corpus} from {data_dir} ({n_docs} docs, {n_vectors} vectors)")
    for column in ("stage", "seconds", "docs/s", "x baseline"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for stage, seconds in (
        ("baseline: parse JSONL + Parquet only", baseline),
        ("fresh warehouse", fresh),
        ("re-run (nothing new)", rerun),
    ):
        table.add_row(stage, f"{seconds:.2f}", f"{n_docs / seconds:,.0f}", f"{seconds / baseline:.2f}")
    console = Console()
    console.print(table)
    console.print(f"hardware: {describe_machine()}")
    verdict = "[green]within[/green]" if fresh < TARGET_S else "[red]over[/red]"
    console.print(f"fresh ingest {fresh:.1f} s: {verdict} the {TARGET_S:.0f} s target")
    return 0 if fresh < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
