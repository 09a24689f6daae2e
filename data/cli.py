"""`python -m data ingest <corpus>`: documents in, embeddings cached, all in the corpus warehouse."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.corpus import TableSource
from data.ingest import IngestReport, IngestRequest, ingest_corpus
from data.schema import current_version
from data.settings import warehouse_path
from data.sources.arxiv_api import ArxivApiError
from data.sources.oai_pmh import OaiError
from data.warehouse import open_writer

console = Console(stderr=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="ingest a corpus and cache its embeddings")
    ingest.add_argument("corpus", help="corpus name from conf/corpus/<name>.yaml, e.g. astro or cslg")
    ingest.add_argument("--jsonl", type=Path, action="append", default=[], help="arXiv snapshot or listing JSONL (.gz ok)")
    ingest.add_argument("--csv", type=Path, action="append", default=[],
                        help="CSV: title and abstract columns, or any columns named with --text-column etc.")
    ingest.add_argument("--parquet", type=Path, action="append", default=[], help="Parquet of any text collection")
    columns = ingest.add_argument_group(
        "columns of any text collection", "With any of these, --csv, --jsonl and --parquet files are read as a generic "
        "collection; a corpus without a config gets conf/corpus/<corpus>.yaml naming the files and columns."
    )
    columns.add_argument("--text-column", help="the text to embed (the body, with --title-column) [text]")
    columns.add_argument("--title-column", help="an optional title, embedded before the text")
    columns.add_argument("--id-column", help="a stable document id [the id column if any, else a hash of the text]")
    columns.add_argument("--date-column", help="an optional date (YYYY-MM-DD or a timestamp)")
    columns.add_argument("--metadata-columns", help="comma-separated columns kept in docs.metadata [every other column; '' for none]")
    ingest.add_argument("--arxiv", action="store_true", help="fetch from the arXiv API (the default when no file is given)")
    ingest.add_argument("--all", action="store_true", dest="harvest_all",
                        help="harvest the corpus's whole arXiv set through OAI-PMH (resumable, incremental; hours)")
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
    jsonl, csv_files, tables = table_sources(args)
    request = IngestRequest(
        corpus=args.corpus, jsonl=jsonl, csv=csv_files, tables=tables, arxiv=args.arxiv, max_results=args.max_results,
        harvest_all=args.harvest_all,
        embeddings=args.embeddings, abstract_texts=args.abstract_texts, embeddings_model=args.embeddings_model,
        embed_backend=args.embed_backend, embed_model=args.embed_model, strict=args.strict,
        embed=not args.no_embed, warehouse=args.warehouse,
    )
    try:
        report = ingest_corpus(request)
    except (ValueError, FileNotFoundError, ArxivApiError, OaiError) as error:
        # ValueError covers malformed input under --strict, bad CSV headers, bad precomputed files,
        # vectors of the wrong width (EmbeddingError) and unknown corpora.
        console.print(f"[red]error:[/red] {error}")
        return 2
    print_report(report)
    return 0


def table_sources(args: argparse.Namespace) -> tuple[list[Path], list[Path], list[TableSource]]:
    """(arXiv JSONL, arXiv CSV, generic tables): with a column flag, every file is a generic table."""
    settings = {
        "text_column": args.text_column, "title_column": args.title_column, "id_column": args.id_column,
        "date_column": args.date_column,
        "metadata_columns": None if args.metadata_columns is None else [c.strip() for c in args.metadata_columns.split(",") if c.strip()],
    }
    settings = {key: value for key, value in settings.items() if value is not None}
    tables = [TableSource(path, format="parquet", **settings) for path in args.parquet]
    if not settings:
        return args.jsonl, args.csv, tables
    tables += [TableSource(path, format="jsonl", **settings) for path in args.jsonl]
    tables += [TableSource(path, format="csv", **settings) for path in args.csv]
    return [], [], tables


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
