"""`python -m data ingest <corpus>`: documents in, embeddings cached, all in the corpus warehouse."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.corpus import CorpusConfig, IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.embed import make_embedder
from data.embed.pipeline import EmbedStats, embed_pending
from data.embeddings import EmbeddingError, pending_texts
from data.settings import local_data_dir, warehouse_path
from data.sources import BadInput, MalformedInput
from data.sources.arxiv_api import ArxivApiError, fetch_corpus
from data.sources.csv_source import read_csv
from data.sources.jsonl import read_jsonl
from data.sources.precomputed import PrecomputedVectors, read_npy_vectors, read_parquet_vectors
from data.vector_import import ImportStats, import_precomputed
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        corpus = load_corpus_config(args.corpus)
        overrides = {"embed_backend": args.embed_backend, "embed_model": args.embed_model}
        corpus = dataclasses.replace(corpus, **{k: v for k, v in overrides.items() if v is not None})
        return ingest(corpus, args)
    except (ValueError, FileNotFoundError, MalformedInput, ArxivApiError) as error:
        # ValueError covers bad CSV headers, bad precomputed files, EmbeddingError and config errors.
        console.print(f"[red]error:[/red] {error}")
        return 2


def ingest(corpus: CorpusConfig, args: argparse.Namespace) -> int:
    path = args.warehouse or warehouse_path(corpus.name)
    jsonl, csv_files, vector_files = list(args.jsonl), list(args.csv), list(args.embeddings)
    shared = local_data_dir()
    if not (jsonl or csv_files or args.arxiv) and shared is not None:
        jsonl = [shared / SHARED_LISTING]
        if not vector_files and corpus.embed_model in SHARED_VECTORS and (shared / SHARED_VECTORS[corpus.embed_model]).exists():
            vector_files = [shared / SHARED_VECTORS[corpus.embed_model]]
    use_api = args.arxiv or not (jsonl or csv_files or vector_files)
    vectors_model = args.embeddings_model or corpus.embed_model
    started = time.perf_counter()
    stats = IngestStats()
    bad = BadInput(stats, strict=args.strict)
    # Read precomputed files before opening the warehouse: a broken file is refused before any write.
    precomputed = [_read_vectors(file, args.abstract_texts) for file in vector_files]
    imported = ImportStats()
    embedded: EmbedStats | None = None
    with open_writer(path) as con:
        for file in jsonl:
            ingest_documents(con, read_jsonl(file, bad), corpus, f"jsonl:{file.name}", stats)
        for file in csv_files:
            ingest_documents(con, read_csv(file, bad), corpus, f"csv:{file.name}", stats)
        if use_api:
            fetch_corpus(con, corpus, stats, bad, max_results=args.max_results)
        for vectors in precomputed:
            result = import_precomputed(con, corpus, vectors_model, vectors, stats)
            for name in ("stored", "matched", "unmatched", "stale", "new_documents"):
                setattr(imported, name, getattr(imported, name) + getattr(result, name))
        if not args.no_embed and pending_texts(con, corpus.embed_model):
            embedded = embed_pending(con, make_embedder(corpus.embed_backend, corpus.embed_model))
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


def _read_vectors(file: Path, abstract_texts: Path | None) -> PrecomputedVectors:
    if file.suffix == ".npy":
        return read_npy_vectors(file, abstract_texts)
    if file.suffix == ".parquet":
        return read_parquet_vectors(file)
    raise ValueError(f"{file}: precomputed embeddings must be .parquet (id + vector) or .npy (+ abstract_texts.json)")


def _report(corpus, path, stats: IngestStats, imported: ImportStats, embedded: EmbedStats | None, n_docs, n_vectors, n_failed, seconds) -> None:
    table = Table(title=f"corpus {corpus.name} -> {path}")
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
    table.add_row("documents in warehouse", str(n_docs))
    table.add_row(f"documents with {corpus.embed_model} vectors", str(n_vectors))
    table.add_row("texts awaiting an embedding retry", str(n_failed))
    table.add_row("seconds", f"{seconds:.1f}")
    console.print(table)
    for problem in stats.problems:
        console.print(f"[yellow]skipped[/yellow] {problem}")
    for error in embedded.errors if embedded is not None else []:
        console.print(f"[red]embedding failed[/red] {error}")


if __name__ == "__main__":
    sys.exit(main())
