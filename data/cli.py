"""`python -m data ingest <corpus>`: documents in, embeddings cached, all in the corpus warehouse.

`python -m data migrate <corpus> [--warehouse F]` brings an older warehouse to this code's schema.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse import ArgumentParser
from rich.console import Console
from rich.table import Table

from data.commands import add_shared_arguments, entry_point, warehouse_of
from data.corpus import TableSource
from data.ingest import IngestReport, IngestRequest, ingest_corpus
from data.schema import current_version
from data.sources.arxiv_api import ArxivApiError
from data.sources.oai_pmh import OaiError
from data.warehouse import open_writer

console = Console(stderr=True)

EXIT_MISSING_VECTORS = 3
"""Exit code when documents are left without a vector (their embedding failed; a re-run retries them)."""


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m data", description=__doc__)
    commands = parser.add_subcommands()
    ingest = ArgumentParser(description="ingest a corpus and cache its embeddings")
    add_shared_arguments(ingest)
    ingest.add_argument(
        "--jsonl", type=Path, nargs="+", default=[], help="arXiv snapshot or listing JSONL files (.gz ok)"
    )
    ingest.add_argument(
        "--csv",
        type=Path,
        nargs="+",
        default=[],
        help="CSV files: title and abstract columns, or any columns named with --text-column etc.",
    )
    ingest.add_argument("--parquet", type=Path, nargs="+", default=[], help="Parquet files of any text collection")
    # With any column flag, --csv, --jsonl and --parquet files are read as a generic collection, and a
    # corpus without a config gets conf/corpus/<corpus>.yaml naming the files and columns.
    ingest.add_argument(
        "--text-column",
        type=str | None,
        default=None,
        help="any collection: the text to embed (the body, with --title-column) [text]",
    )
    ingest.add_argument(
        "--title-column",
        type=str | None,
        default=None,
        help="any collection: an optional title, embedded before the text",
    )
    ingest.add_argument(
        "--id-column",
        type=str | None,
        default=None,
        help="any collection: a stable document id [the id column if any, else a hash of the text]",
    )
    ingest.add_argument(
        "--date-column",
        type=str | None,
        default=None,
        help="any collection: an optional date (YYYY-MM-DD or a timestamp)",
    )
    ingest.add_argument(
        "--metadata-columns",
        type=str | None,
        default=None,
        help="any collection: comma-separated columns kept in docs.metadata [every other; '' for none]",
    )
    ingest.add_argument(
        "--arxiv", action="store_true", help="fetch from the arXiv API (the default when no file is given)"
    )
    ingest.add_argument(
        "--all",
        action="store_true",
        help="harvest the corpus's whole arXiv set through OAI-PMH (resumable, incremental; hours)",
    )
    ingest.add_argument(
        "--max-results", type=int | None, default=None, help="read at most this many results of the arXiv API query"
    )
    ingest.add_argument(
        "--embeddings", type=Path, nargs="+", default=[], help="precomputed vectors: .parquet or .npy files"
    )
    ingest.add_argument(
        "--abstract-texts", type=Path | None, default=None, help="abstract_texts.json of a .npy (default: next to it)"
    )
    ingest.add_argument(
        "--embeddings-model",
        type=str | None,
        default=None,
        help="model the precomputed vectors come from (default: the corpus embed_model)",
    )
    ingest.add_argument(
        "--embed-backend",
        type=str | None,
        choices=["local", "openai"],
        default=None,
        help="override the corpus embed_backend",
    )
    ingest.add_argument(
        "--embed-model",
        type=str | None,
        default=None,
        help="override the corpus embed_model (e.g. text-embedding-3-small)",
    )
    ingest.add_argument(
        "--embed-timeout",
        type=float | None,
        default=None,
        help="seconds per embedding request before a retry (openai; corpus embed_timeout_s, default 60)",
    )
    ingest.add_argument(
        "--embed-retries",
        type=int | None,
        default=None,
        help="retries of a failed or timed-out embedding request (openai; corpus embed_retries, default 5)",
    )
    ingest.add_argument(
        "--strict", action="store_true", help="abort on the first malformed line instead of skipping it"
    )
    ingest.add_argument("--no-embed", action="store_true", help="store documents only; embed later")
    commands.add_subcommand("ingest", ingest, help="ingest a corpus and cache its embeddings")
    migrate = ArgumentParser(description="bring a warehouse to this code's schema version (readers cannot)")
    add_shared_arguments(migrate)
    commands.add_subcommand("migrate", migrate, help="bring a warehouse to this code's schema version (readers cannot)")
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args[args.subcommand]
    if args.subcommand == "migrate":
        return migrate_warehouse(warehouse_of(command))
    jsonl, csv_files, tables = table_sources(command)
    request = IngestRequest(
        corpus=command.corpus,
        jsonl=jsonl,
        csv=csv_files,
        tables=tables,
        arxiv=command.arxiv,
        harvest_all=command.all,
        max_results=command.max_results,
        embeddings=command.embeddings,
        abstract_texts=command.abstract_texts,
        embeddings_model=command.embeddings_model,
        embed_backend=command.embed_backend,
        embed_model=command.embed_model,
        embed_timeout_s=command.embed_timeout,
        embed_retries=command.embed_retries,
        strict=command.strict,
        embed=not command.no_embed,
        warehouse=command.warehouse,
    )
    try:
        report = ingest_corpus(request)
    except (ValueError, FileNotFoundError, ArxivApiError, OaiError) as error:
        # ValueError covers malformed input under --strict, bad CSV headers, bad precomputed files,
        # vectors of the wrong width (EmbeddingError) and unknown corpora.
        console.print(f"[red]error:[/red] {error}")
        return 2
    print_report(report)
    if report.n_without_vectors:
        console.print(
            f"[red]error:[/red] {report.n_without_vectors} of {report.n_docs} documents have no {report.embed_model} "
            "vector (see the failures above); run the same command again to retry them, or use --no-embed "
            "to store documents only"
        )
        return EXIT_MISSING_VECTORS
    return 0


def table_sources(command) -> tuple[list[Path], list[Path], list[TableSource]]:
    """(arXiv JSONL, arXiv CSV, generic tables): with a column flag, every file is a generic table."""
    metadata = command.metadata_columns
    settings = {
        "text_column": command.text_column,
        "title_column": command.title_column,
        "id_column": command.id_column,
        "date_column": command.date_column,
        "metadata_columns": None if metadata is None else [c.strip() for c in metadata.split(",") if c.strip()],
    }
    settings = {key: value for key, value in settings.items() if value is not None}
    tables = [TableSource(Path(path), format="parquet", **settings) for path in command.parquet]
    if not settings:
        return list(command.jsonl), list(command.csv), tables
    tables += [TableSource(Path(path), format="jsonl", **settings) for path in command.jsonl]
    tables += [TableSource(Path(path), format="csv", **settings) for path in command.csv]
    return [], [], tables


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
    table.add_row("input files cut short (lines before the damage read)", str(stats.cut_short))
    if imported.matched or imported.unmatched or imported.stale:
        table.add_row("precomputed vectors stored (new)", str(imported.stored))
        table.add_row("precomputed vectors without a document", str(imported.unmatched))
        table.add_row("precomputed vectors for an outdated abstract", str(imported.stale))
    if embedded is not None:
        table.add_row("vectors embedded", str(embedded.stored))
        table.add_row("embedding failures (retried next run)", str(embedded.failed))
        table.add_row("texts cut to the model's input window (embedded from their start)", str(embedded.cut))
        table.add_row("texts mostly of tokens unknown to the model", str(embedded.mostly_unknown))
    table.add_row("stored vectors removed (zero or NaN/inf; embedded again)", str(report.invalid_vectors_removed))
    table.add_row("documents in warehouse", str(report.n_docs))
    table.add_row(f"documents with {report.embed_model} vectors", str(report.n_vectors))
    table.add_row("documents awaiting an embedding retry", str(report.n_awaiting_retry))
    table.add_row("seconds", f"{report.seconds:.1f}")
    console.print(table)
    for problem in stats.problems:
        console.print(f"[yellow]skipped[/yellow] {problem}")
    for error in embedded.errors if embedded is not None else []:
        console.print(f"[red]embedding failed[/red] {error}")
    if embedded is not None and embedded.cut:
        console.print(
            f"[yellow]note[/yellow] {embedded.cut} texts are longer than {report.embed_model}'s input window and were "
            f"embedded from their beginning (e.g. {', '.join(embedded.cut_examples)})"
        )
    if embedded is not None and embedded.mostly_unknown:
        console.print(
            f"[yellow]warning[/yellow] {embedded.mostly_unknown} texts are mostly tokens {report.embed_model} does not "
            f"know (e.g. {', '.join(embedded.unknown_examples)}), so their vectors say little about them; embed "
            "them with a model for their language (--embed-backend openai)"
        )


if __name__ == "__main__":
    sys.exit(main())
