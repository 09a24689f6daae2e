"""`just export <corpus> [--sae-id N] --format safetensors|sentence-transformers|parquet [--out DIR]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from jsonargparse import ArgumentParser
from rich.console import Console
from rich.table import Table

from data.commands import command_parser, entry_point, warehouse_of
from data.corpus import load_corpus_config
from evals.export.pipeline import FORMATS, export_sae
from evals.saes import UnknownSAE


def build_parser() -> ArgumentParser:
    parser = command_parser("just export", __doc__, sae_id="one")
    parser.add_argument("--format", type=Literal[FORMATS], required=True, help="what to write (README: Exports)")
    parser.add_argument(
        "--out",
        type=Path | None,
        default=None,
        help="folder to write (replaced whole); default artifacts/exports/<corpus>_sae<id>_<format>",
    )
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    console = Console()
    try:
        load_corpus_config(args.corpus)
        report = export_sae(warehouse_of(args), args.corpus, args.format, args.sae_id, args.out)
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
