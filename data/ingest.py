"""The Python API behind `just data <corpus>`: sources in, documents stored, embeddings cached.

    from data.ingest import IngestRequest, ingest_corpus
    report = ingest_corpus(IngestRequest("astro", jsonl=[Path("snapshot.json")]))
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from data.corpus import IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.embed import make_embedder
from data.embed.pipeline import EmbedStats, embed_pending
from data.embeddings import pending_texts, remove_invalid_vectors
from data.settings import local_data_dir, warehouse_path
from data.sources import BadInput
from data.sources.arxiv_api import ArxivApiSettings, fetch_corpus
from data.sources.csv_source import read_csv
from data.sources.jsonl import read_jsonl
from data.sources.precomputed import PrecomputedVectors, read_npy_vectors, read_parquet_vectors
from data.vector_import import ImportStats, import_precomputed
from data.split import assign_splits
from data.warehouse import open_writer

# What a `SAE_ATLAS_DATA_DIR` folder may hold (the layout of ../shared/data).
LOCAL_LISTING = "arxiv_abstracts.jsonl.gz"
LOCAL_VECTORS = {"all-MiniLM-L6-v2": "minilm_l6_v2.parquet"}


@dataclass
class IngestRequest:
    """What to ingest into which corpus warehouse. With no input named, the local data folder
    (``SAE_ATLAS_DATA_DIR``) is used if set, else the arXiv API."""

    corpus: str
    """Corpus name from ``conf/corpus/<name>.yaml`` (astro, cslg)."""
    jsonl: list[Path] = field(default_factory=list)
    """arXiv snapshot or listing JSONL files (``.gz`` ok)."""
    csv: list[Path] = field(default_factory=list)
    """CSV files with title and abstract columns."""
    arxiv: bool = False
    """Fetch from the arXiv API even when files are named."""
    max_results: int | None = None
    """Read at most this many results of the arXiv API query."""
    arxiv_settings: ArxivApiSettings | None = None
    """Endpoint, page size, politeness delay, retries (default: ``ArxivApiSettings()``)."""
    embeddings: list[Path] = field(default_factory=list)
    """Precomputed vectors: ``.parquet`` (id + vector) or ``.npy`` (+ ``abstract_texts.json``)."""
    abstract_texts: Path | None = None
    """The ``abstract_texts.json`` of a ``.npy`` (default: next to it)."""
    embeddings_model: str | None = None
    """The model precomputed vectors come from (default: the corpus ``embed_model``)."""
    embed_backend: str | None = None
    """Override the corpus ``embed_backend`` (local | openai)."""
    embed_model: str | None = None
    """Override the corpus ``embed_model``."""
    embed_timeout_s: float | None = None
    """Override the corpus ``embed_timeout_s`` (seconds per embedding request, openai backend)."""
    embed_retries: int | None = None
    """Override the corpus ``embed_retries`` (retries of a failed or timed-out request, openai backend)."""
    strict: bool = False
    """Abort on the first malformed line instead of skipping and counting it."""
    embed: bool = True
    """Embed documents that have no cached vector yet."""
    warehouse: Path | None = None
    """DuckDB file (default ``artifacts/<corpus>.duckdb``)."""


@dataclass
class IngestReport:
    """What one ingest did, and what the warehouse holds afterwards."""

    corpus: str
    warehouse: Path
    embed_model: str
    documents: IngestStats
    imported: ImportStats
    embedded: EmbedStats | None
    n_docs: int
    n_vectors: int
    """Documents with a vector of ``embed_model``."""
    n_awaiting_retry: int
    """Documents whose embedding failed and is retried on the next run."""
    seconds: float
    invalid_vectors_removed: int = 0
    """Stored vectors that were zero or held NaN/inf (written by an older version); removed and embedded again."""
    embed_requested: bool = True

    @property
    def n_without_vectors(self) -> int:
        """Documents left without a vector although embedding was asked for (0 with ``--no-embed``)."""
        return self.n_docs - self.n_vectors if self.embed_requested else 0


def ingest_corpus(request: IngestRequest) -> IngestReport:
    corpus = load_corpus_config(request.corpus)
    overrides = {"embed_backend": request.embed_backend, "embed_model": request.embed_model,
                 "embed_timeout_s": request.embed_timeout_s, "embed_retries": request.embed_retries}
    corpus = dataclasses.replace(corpus, **{k: v for k, v in overrides.items() if v is not None})
    path = request.warehouse or warehouse_path(corpus.name)
    jsonl, csv_files, vector_files = list(request.jsonl), list(request.csv), list(request.embeddings)
    local = local_data_dir()
    if not (jsonl or csv_files or vector_files or request.arxiv) and local is not None:
        jsonl = [local / LOCAL_LISTING]
        if corpus.embed_model in LOCAL_VECTORS and (local / LOCAL_VECTORS[corpus.embed_model]).exists():
            vector_files = [local / LOCAL_VECTORS[corpus.embed_model]]
    use_api = request.arxiv or not (jsonl or csv_files or vector_files)
    started, started_at = time.perf_counter(), dt.datetime.now()
    stats = IngestStats()
    bad = BadInput(stats, strict=request.strict)
    # Read precomputed files before opening the warehouse: a broken file is refused before any write.
    precomputed = [_read_vectors(file, request.abstract_texts) for file in vector_files]
    imported = ImportStats()
    embedded = None
    with open_writer(path) as con:
        assign_splits(con, corpus.test_fraction, corpus.name)  # refuses a changed split under trained SAEs
        removed = remove_invalid_vectors(con)
        if removed:
            stats.note(f"removed {len(removed)} stored vectors that were zero or held NaN/inf (documents "
                       f"{', '.join(removed[:10])}{' ...' if len(removed) > 10 else ''}); they are embedded again")
        for file in jsonl:
            ingest_documents(con, read_jsonl(file, bad), corpus, f"jsonl:{file.name}", stats)
        for file in csv_files:
            ingest_documents(con, read_csv(file, bad), corpus, f"csv:{file.name}", stats)
    if use_api:  # holds the warehouse only while storing each page, not across the API's pauses
        fetch_corpus(path, corpus, stats, bad, max_results=request.max_results, settings=request.arxiv_settings)
    with open_writer(path) as con:
        for vectors in precomputed:
            result = import_precomputed(con, corpus, request.embeddings_model or corpus.embed_model, vectors, stats)
            for name in ("stored", "matched", "unmatched", "stale", "new_documents"):
                setattr(imported, name, getattr(imported, name) + getattr(result, name))
        needs_embedding = request.embed and bool(pending_texts(con, corpus.embed_model))
    if needs_embedding:
        embedded = embed_pending(path, make_embedder(corpus.embed_backend, corpus.embed_model, **corpus.embedder_options()))
    with open_writer(path) as con:
        _record_run(con, started_at, corpus.name, jsonl, csv_files, use_api, vector_files, stats, imported, embedded)
        n_docs, n_vectors, n_awaiting = con.execute(
            """
            SELECT (SELECT count(*) FROM docs),
                   (SELECT count(*) FROM docs d SEMI JOIN embeddings e ON e.model = ? AND e.text_hash = d.text_hash),
                   (SELECT count(*) FROM docs d SEMI JOIN embedding_failures f ON f.model = ? AND f.text_hash = d.text_hash)
            """,
            [corpus.embed_model, corpus.embed_model],
        ).fetchall()[0]
    return IngestReport(
        corpus.name, path, corpus.embed_model, stats, imported, embedded, n_docs, n_vectors, n_awaiting,
        time.perf_counter() - started, len(removed), request.embed,
    )


def _record_run(con, started_at: dt.datetime, corpus: str, jsonl, csv_files, use_api: bool, vector_files, stats: IngestStats,
                imported: ImportStats, embedded: EmbedStats | None) -> None:
    """One ``ingest_runs`` row per ingest: what was read and what was skipped, queryable later."""
    sources = [f"jsonl:{f}" for f in jsonl] + [f"csv:{f}" for f in csv_files] + [f"vectors:{f}" for f in vector_files]
    sources += ["arxiv-api"] if use_api else []
    summary = {
        "corpus": corpus,
        "documents": {k: v for k, v in dataclasses.asdict(stats).items() if k != "problems"},
        "problems": stats.problems,
        "precomputed": dataclasses.asdict(imported),
        "embedded": None if embedded is None else {
            "stored": embedded.stored, "failed": embedded.failed, "errors": embedded.errors,
            "cut": embedded.cut, "mostly_unknown": embedded.mostly_unknown,
        },
    }
    con.execute(
        "INSERT INTO ingest_runs (run_id, source, started_at, finished_at, stats) VALUES (?, ?, ?, now(), ?)",
        [f"ingest:{uuid.uuid4()}", ", ".join(sources), started_at, json.dumps(summary)],
    )


def _read_vectors(file: Path, abstract_texts: Path | None) -> PrecomputedVectors:
    if file.suffix == ".npy":
        return read_npy_vectors(file, abstract_texts)
    if file.suffix == ".parquet":
        ids, matrix = read_parquet_vectors(file)
        return PrecomputedVectors(file, ids, matrix)
    raise ValueError(f"{file}: precomputed embeddings must be .parquet (id + vector) or .npy (+ abstract_texts.json)")
