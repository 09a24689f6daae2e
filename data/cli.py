"""`python -m data ingest <corpus>`: documents in, embeddings cached, all in the corpus warehouse."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.corpus import CorpusConfig, IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.embed import make_embedder
from data.embed.pipeline import embed_pending
from data.embeddings import import_vectors_by_arxiv_id
from data.settings import local_data_dir, warehouse_path
from data.sources import BadInput, MalformedInput
from data.sources.jsonl import read_jsonl
from data.sources.precomputed import read_parquet_vectors
from data.warehouse import open_writer

console = Console(stderr=True)

SHARED_LISTING = "arxiv_abstracts.jsonl.gz"
SHARED_VECTORS = {"all-MiniLM-L6-v2": "minilm_l6_v2.parquet"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="ingest a corpus and cache its embeddings")
    ingest.add_argument("corpus", help="corpus name from conf/corpus/<name>.yaml, e.g. astro or cslg")
    ingest.add_argument("--jsonl", type=Path, action="append", default=[], help="arXiv snapshot or listing JSONL (.gz ok)")
    ingest.add_argument("--csv", type=Path, action="append", default=[], help="CSV with title and abstract columns")
    ingest.add_argument("--arxiv", action="store_true", help="fetch from the arXiv API (the default when no file is given)")
    ingest.add_argument("--max-results", type=int, default=None, help="cap on documents fetched from the arXiv API")
    ingest.add_argument("--embeddings", type=Path, action="append", default=[], help="precomputed vectors: .parquet or .npy")
    ingest.add_argument("--strict", action="store_true", help="abort on the first malformed line instead of skipping it")
    ingest.add_argument("--no-embed", action="store_true", help="store documents only; embed later")
    ingest.add_argument("--warehouse", type=Path, default=None, help="DuckDB file (default artifacts/<corpus>.duckdb)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        corpus = load_corpus_config(args.corpus)
        return ingest(corpus, args)
    except (ValueError, FileNotFoundError, MalformedInput) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2


def ingest(corpus: CorpusConfig, args: argparse.Namespace) -> int:
    path = args.warehouse or warehouse_path(corpus.name)
    jsonl, csv_files, vectors = list(args.jsonl), list(args.csv), list(args.embeddings)
    shared = local_data_dir()
    if not (jsonl or csv_files or args.arxiv) and shared is not None:
        jsonl = [shared / SHARED_LISTING]
        if not vectors and corpus.embed_model in SHARED_VECTORS and (shared / SHARED_VECTORS[corpus.embed_model]).exists():
            vectors = [shared / SHARED_VECTORS[corpus.embed_model]]
    use_api = args.arxiv or not (jsonl or csv_files)
    started = time.perf_counter()
    stats = IngestStats()
    bad = BadInput(stats, strict=args.strict)
    with open_writer(path) as con:
        for file in jsonl:
            ingest_documents(con, read_jsonl(file, bad), corpus, f"jsonl:{file.name}", stats)
        for file in csv_files:
            from data.sources.csv_source import read_csv

            ingest_documents(con, read_csv(file, bad), corpus, f"csv:{file.name}", stats)
        if use_api:
            from data.sources.arxiv_api import fetch_corpus

            fetch_corpus(con, corpus, stats, bad, max_results=args.max_results)
        imported = 0
        for file in vectors:
            ids, matrix = _read_vectors(file)
            stored, unmatched = import_vectors_by_arxiv_id(con, corpus.embed_model, ids, matrix)
            imported += stored
        embedded = None
        if not args.no_embed:
            embedder = make_embedder(corpus.embed_backend, corpus.embed_model) if _needs_embedding(con, corpus) else None
            if embedder is not None:
                embedded = embed_pending(con, embedder)
        n_docs, n_vectors, n_failed = con.execute(
            """
            SELECT (SELECT count(*) FROM docs),
                   (SELECT count(*) FROM docs d JOIN embeddings e ON e.model = ? AND e.text_hash = d.text_hash),
                   (SELECT count(*) FROM embedding_failures WHERE model = ?)
            """,
            [corpus.embed_model, corpus.embed_model],
        ).fetchall()[0]
    _report(corpus, path, stats, imported, embedded, n_docs, n_vectors, n_failed, time.perf_counter() - started)
    return 0


def _needs_embedding(con, corpus: CorpusConfig) -> bool:
    from data.embeddings import pending_texts

    return bool(pending_texts(con, corpus.embed_model))


def _read_vectors(file: Path):
    if file.suffix == ".npy":
        from data.sources.precomputed import read_npy_vectors

        return read_npy_vectors(file)
    return read_parquet_vectors(file)


def _report(corpus, path, stats: IngestStats, imported, embedded, n_docs, n_vectors, n_failed, seconds) -> None:
    table = Table(title=f"corpus {corpus.name} -> {path}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("read", "inserted", "updated", "unchanged", "outside_corpus", "empty_abstract", "malformed"):
        table.add_row(name.replace("_", " "), str(getattr(stats, name)))
    table.add_row("vectors imported", str(imported))
    if embedded is not None:
        table.add_row("vectors embedded", str(embedded.stored))
        table.add_row("embedding failures (retried next run)", str(embedded.failed))
    table.add_row("documents in warehouse", str(n_docs))
    table.add_row(f"documents with {corpus.embed_model} vectors", str(n_vectors))
    table.add_row("documents awaiting a retry", str(n_failed))
    table.add_row("seconds", f"{seconds:.1f}")
    console.print(table)
    for problem in stats.problems:
        console.print(f"[yellow]skipped[/yellow] {problem}")


if __name__ == "__main__":
    sys.exit(main())
