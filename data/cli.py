"""`python -m data ingest <corpus>`: documents in, embeddings cached, all in the corpus warehouse."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.ingest import IngestReport, IngestRequest, ingest_corpus
from data.schema import current_version
from data.settings import warehouse_path
from data.sources.arxiv_api import ArxivApiError
from data.warehouse import open_writer

console = Console(stderr=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="ingest a corpus and cache its embeddings")
    ingest.add_argument("corpus", help="corpus name from conf/corpus/<name>.yaml, e.g. astro or cslg")
    ingest.add_argument("--jsonl", type=Path, action="append", default=[], help="arXiv snapshot or listing JSONL (.gz ok)")
    ingest.add_argument("--csv", type=Path, action="append", default=[], help="CSV with title and abstract columns")
    ingest.add_argument("--arxiv", action="store_true", help="fetch from the arXiv API (the default when no file is given)")
    ingest.add_argument("--max-results", type=int, default=None, help="read at most this many results of the arXiv API query")
    ingest.add_argument("--embeddings", type=Path, action="append", default=[], help="precomputed vectors: .parquet or .npy")
    ingest.add_argument("--abstract-texts", type=Path, default=None, help="abstract_texts.json of a .npy (default: next to it)")
    ingest.add_argument(
        "--embeddings-model", default=None, help="model the precomputed vectors come from (default: the corpus embed_model)"
    )
    ingest.add_argument("--embed-backend", choices=["local", "openai"], default=None, help="override the corpus embed_backend")
    ingest.add_argument("--embed-model", default=None, help="override the corpus embed_model (e.g. text-embedding-3-small)")
    ingest.add_argument("--strict", action="store_true", help="abort on the first malformed line instead of skipping it")
    ingest.add_argument("--no-embed", action="store_true", help="store documents only; embed later")
    ingest.add_argument("--warehouse", type=Path, default=None, help="DuckDB file (default artifacts/<corpus>.duckdb)")
    migrate = sub.add_parser("migrate", help="bring a warehouse to this code's schema version (readers cannot)")
    migrate.add_argument("corpus", nargs="?", help="corpus name; its warehouse is artifacts/<corpus>.duckdb")
    migrate.add_argument("--warehouse", type=Path, default=None, help="DuckDB file (default artifacts/<corpus>.duckdb)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "migrate":
        return migrate_warehouse(parser, args.corpus, args.warehouse)
    request = IngestRequest(
        corpus=args.corpus, jsonl=args.jsonl, csv=args.csv, arxiv=args.arxiv, max_results=args.max_results,
        embeddings=args.embeddings, abstract_texts=args.abstract_texts, embeddings_model=args.embeddings_model,
        embed_backend=args.embed_backend, embed_model=args.embed_model, strict=args.strict,
        embed=not args.no_embed, warehouse=args.warehouse,
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


def migrate_warehouse(parser: argparse.ArgumentParser, corpus: str | None, warehouse: Path | None) -> int:
    if warehouse is None and corpus is None:
        parser.error("migrate needs a corpus or --warehouse")
    path = warehouse or warehouse_path(corpus)
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
