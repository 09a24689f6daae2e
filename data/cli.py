"""`python -m data ingest <corpus>`: documents in, embeddings cached, all in the corpus warehouse.

`python -m data migrate <corpus> [--warehouse F]` brings an older warehouse to this code's schema.
"""
from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse import ArgumentParser
from rich.console import Console
from rich.table import Table

from data.commands import add_shared_arguments, warehouse_of
from data.ingest import IngestReport, IngestRequest, ingest_corpus
from data.schema import current_version
from data.sources.arxiv_api import ArxivApiError
from data.warehouse import open_writer

console = Console(stderr=True)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m data", description=__doc__)
    commands = parser.add_subcommands()
    ingest = ArgumentParser(description="ingest a corpus and cache its embeddings")
    add_shared_arguments(ingest)
    ingest.add_argument("--jsonl", type=Path, nargs="+", default=[],
                        help="arXiv snapshot or listing JSONL files (.gz ok)")
    ingest.add_argument("--csv", type=Path, nargs="+", default=[], help="CSV files with title and abstract columns")
    ingest.add_argument("--arxiv", action="store_true",
                        help="fetch from the arXiv API (the default when no file is given)")
    ingest.add_argument("--max-results", type=int | None, default=None,
                        help="read at most this many results of the arXiv API query")
    ingest.add_argument("--embeddings", type=Path, nargs="+", default=[],
                        help="precomputed vectors: .parquet or .npy files")
    ingest.add_argument("--abstract-texts", type=Path | None, default=None,
                        help="abstract_texts.json of a .npy (default: next to it)")
    ingest.add_argument(
        "--embeddings-model", type=str | None, default=None,
        help="model the precomputed vectors come from (default: the corpus embed_model)",
    )
    ingest.add_argument("--embed-backend", type=str | None, choices=["local", "openai"], default=None,
                        help="override the corpus embed_backend")
    ingest.add_argument("--embed-model", type=str | None, default=None,
                        help="override the corpus embed_model (e.g. text-embedding-3-small)")
    ingest.add_argument("--strict", action="store_true",
                        help="abort on the first malformed line instead of skipping it")
    ingest.add_argument("--no-embed", action="store_true", help="store documents only; embed later")
    commands.add_subcommand("ingest", ingest, help="ingest a corpus and cache its embeddings")
    migrate = ArgumentParser(description="bring a warehouse to this code's schema version (readers cannot)")
    add_shared_arguments(migrate)
    commands.add_subcommand("migrate", migrate, help="bring a warehouse to this code's schema version (readers cannot)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args[args.subcommand]
    if args.subcommand == "migrate":
        return migrate_warehouse(warehouse_of(command))
    request = IngestRequest(
        corpus=command.corpus, jsonl=command.jsonl, csv=command.csv, arxiv=command.arxiv,
        max_results=command.max_results, embeddings=command.embeddings, abstract_texts=command.abstract_texts,
        embeddings_model=command.embeddings_model, embed_backend=command.embed_backend, embed_model=command.embed_model,
        strict=command.strict, embed=not command.no_embed, warehouse=command.warehouse,
    )
    try:
        report = ingest_corpus(request)
    except (ValueError, FileNotFoundError, ArxivApiError) as error:
        # ValueError covers malformed input under --strict, bad CSV headers, bad precomputed files,
        # vectors of the wrong width (EmbeddingError) and unknown corpora.
        console.print(f"[red]error:[/red] {error}")
        return 2
    print_report(report)
    return 0


def migrate_warehouse(path: Path) -> int:
    if not path.exists():
        console.print(f"[red]error:[/red] no warehouse at {path}")
        return 2
    with open_writer(path) as con:
        console.print(f"{path}: schema version {current_version(con)}")
    return 0


def print_report(report: IngestReport) -> None:
    stats, imported, embedded = report.documents, report.imported, report.embedded
    table = Table(title=f"corpus {report.corpus} -> {report.warehouse}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("read", "inserted", "updated", "unchanged", "outside_corpus", "empty_abstract", "malformed"):
        table.add_row(f"documents {name.replace('_', ' ')}", str(getattr(stats, name)))
    if imported.matched or imported.unmatched or imported.stale:
        table.add_row("precomputed vectors stored (new)", str(imported.stored))
        table.add_row("precomputed vectors without a document", str(imported.unmatched))
        table.add_row("precomputed vectors for an outdated abstract", str(imported.stale))
    if embedded is not None:
        table.add_row("vectors embedded", str(embedded.stored))
        table.add_row("embedding failures (retried next run)", str(embedded.failed))
    table.add_row("documents in warehouse", str(report.n_docs))
    table.add_row(f"documents with {report.embed_model} vectors", str(report.n_vectors))
    table.add_row("documents awaiting an embedding retry", str(report.n_awaiting_retry))
    table.add_row("seconds", f"{report.seconds:.1f}")
    console.print(table)
    for problem in stats.problems:
        console.print(f"[yellow]skipped[/yellow] {problem}")
    for error in embedded.errors if embedded is not None else []:
        console.print(f"[red]embedding failed[/red] {error}")


if __name__ == "__main__":
    sys.exit(main())
