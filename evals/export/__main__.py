"""`just export <corpus> [--sae-id N] --format safetensors|sentence-transformers|parquet [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.corpus import load_corpus_config
from data.settings import warehouse_path
from evals.export.pipeline import FORMATS, export_sae
from evals.saes import UnknownSAE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just export", description=__doc__)
    parser.add_argument("corpus", help="corpus name (conf/corpus/<name>.yaml), e.g. astro")
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write (README: Exports)")
    parser.add_argument("--sae-id", type=int, help="default: the corpus's default SAE (the most latents)")
    parser.add_argument(
        "--out", type=Path, help="folder to write (replaced whole); default artifacts/exports/<corpus>_sae<id>_<format>"
    )
    parser.add_argument("--warehouse", type=Path, help="DuckDB file (default artifacts/<corpus>.duckdb)")
    args = parser.parse_args(argv)
    console = Console()
    try:
        load_corpus_config(args.corpus)
        report = export_sae(
            args.warehouse or warehouse_path(args.corpus), args.corpus, args.format, args.sae_id, args.out
        )
    except (UnknownSAE, ValueError, FileNotFoundError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    table = Table(title=f"SAE {report.sae_id} as {report.format}: {report.folder} ({report.seconds:.1f} s)")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    for name, size in report.files:
        table.add_row(name, f"{size:,}")
    console.print(table)
    console.print(
        f"{report.labelled} of {report.n_latents} features labelled"
        + ("" if report.labelled else " (run `just interpret <corpus>` to name them)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
