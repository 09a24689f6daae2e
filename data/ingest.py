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

from data.corpus import (
    CorpusConfig,
    IngestStats,
    TableSource,
    corpus_config_path,
    load_corpus_config,
    write_corpus_config,
)
from data.docs import ingest_documents
from data.embed import make_embedder
from data.embed.pipeline import EmbedStats, embed_pending
from data.embeddings import pending_texts, remove_invalid_vectors
from data.settings import local_data_dir, warehouse_path
from data.sources import BadInput
from data.sources.arxiv_api import ArxivApiSettings, fetch_corpus
from data.sources.csv_source import read_csv
from data.sources.jsonl import read_jsonl
from data.sources.oai_pmh import OaiSettings, harvest
from data.sources.precomputed import PrecomputedVectors, read_npy_vectors, read_parquet_vectors
from data.sources.table import read_table
from data.split import assign_splits
from data.vector_import import ImportStats, import_precomputed
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
    tables: list[TableSource] = field(default_factory=list)
    """Files of any text collection (CSV, JSONL, Parquet) with their columns named. For a corpus that
    has no config yet, they define it: ``conf/corpus/<corpus>.yaml`` is written naming them."""
    arxiv: bool = False
    """Fetch from the arXiv API even when files are named."""
    max_results: int | None = None
    """Read at most this many results of the arXiv API query."""
    harvest_all: bool = False
    """Harvest the corpus's whole arXiv set through OAI-PMH (``oai_set``), resumable and incremental."""
    oai_settings: OaiSettings | None = None
    """OAI-PMH endpoint, politeness delay, retries (default: ``OaiSettings()``)."""
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
    overrides = {
        "embed_backend": request.embed_backend,
        "embed_model": request.embed_model,
        "embed_timeout_s": request.embed_timeout_s,
        "embed_retries": request.embed_retries,
    }
    corpus, is_new = _corpus(request, {k: v for k, v in overrides.items() if v is not None})
    path = request.warehouse or warehouse_path(corpus.name)
    jsonl, csv_files, vector_files = list(request.jsonl), list(request.csv), list(request.embeddings)
    tables = list(request.tables)
    named = bool(jsonl or csv_files or vector_files or tables or request.arxiv or request.harvest_all)
    if not named:
        tables = list(corpus.sources)
    local = local_data_dir()
    if not (named or tables) and local is not None:
        jsonl = [local / LOCAL_LISTING]
        if corpus.embed_model in LOCAL_VECTORS and (local / LOCAL_VECTORS[corpus.embed_model]).exists():
            vector_files = [local / LOCAL_VECTORS[corpus.embed_model]]
    use_api = request.arxiv or not (jsonl or csv_files or vector_files or tables or request.harvest_all)
    if use_api and not corpus.arxiv_query:
        raise ValueError(
            f"corpus {corpus.name!r} names no files and has no arxiv_query: "
            "name its files (e.g. --csv F --text-column C) "
            f"or list them under sources: in {corpus_config_path(corpus.name)}"
        )
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
            stats.note(
                f"removed {len(removed)} stored vectors that were zero or held NaN/inf (documents "
                f"{', '.join(removed[:10])}{' ...' if len(removed) > 10 else ''}); they are embedded again"
            )
        for file in jsonl:
            ingest_documents(con, read_jsonl(file, bad), corpus, f"jsonl:{file.name}", stats)
        for file in csv_files:
            ingest_documents(con, read_csv(file, bad), corpus, f"csv:{file.name}", stats)
        for table in tables:
            ingest_documents(con, read_table(table, bad), corpus, f"{table.kind}:{table.path.name}", stats)
    if use_api:  # holds the warehouse only while storing each page, not across the API's pauses
        fetch_corpus(path, corpus, stats, bad, max_results=request.max_results, settings=request.arxiv_settings)
    if request.harvest_all:  # the same, per OAI-PMH page: readers are not locked out for hours
        harvest(path, corpus, stats, bad, request.oai_settings)
    with open_writer(path) as con:
        for vectors in precomputed:
            result = import_precomputed(con, corpus, request.embeddings_model or corpus.embed_model, vectors, stats)
            for name in ("stored", "matched", "unmatched", "stale", "new_documents"):
                setattr(imported, name, getattr(imported, name) + getattr(result, name))
        needs_embedding = request.embed and bool(pending_texts(con, corpus.embed_model))
    if is_new:  # saved once its files were read without error
        write_corpus_config(corpus, f"written by `just data {corpus.name}` from the files it was given; edit freely")
    if needs_embedding:
        embedded = embed_pending(
            path, make_embedder(corpus.embed_backend, corpus.embed_model, **corpus.embedder_options())
        )
    with open_writer(path) as con:
        apis = ["arxiv-api"] * use_api + ["arxiv-oai"] * request.harvest_all
        _record_run(
            con, started_at, corpus.name, jsonl, csv_files, tables, apis, vector_files, stats, imported, embedded
        )
        n_docs, n_vectors, n_awaiting = con.execute(
            """
            SELECT (SELECT count(*) FROM docs),
                   (SELECT count(*) FROM docs d SEMI JOIN embeddings e ON e.model = ? AND e.text_hash = d.text_hash),
                   (SELECT count(*) FROM docs d SEMI JOIN embedding_failures f
                        ON f.model = ? AND f.text_hash = d.text_hash)
            """,
            [corpus.embed_model, corpus.embed_model],
        ).fetchall()[0]
    return IngestReport(
        corpus.name,
        path,
        corpus.embed_model,
        stats,
        imported,
        embedded,
        n_docs,
        n_vectors,
        n_awaiting,
        time.perf_counter() - started,
        len(removed),
        request.embed,
    )


def _corpus(request: IngestRequest, overrides: dict) -> tuple[CorpusConfig, bool]:
    """The corpus config with the command line's model overrides, and whether it is new: a new corpus
    named with its files is created (and saved after a good ingest), so later runs need no arguments."""
    if request.tables and not corpus_config_path(request.corpus).exists():
        sources = [dataclasses.replace(t, path=t.path.resolve()) for t in request.tables]
        return CorpusConfig(name=request.corpus, sources=sources, **overrides), True
    return dataclasses.replace(load_corpus_config(request.corpus), **overrides), False


def _record_run(
    con,
    started_at: dt.datetime,
    corpus: str,
    jsonl,
    csv_files,
    tables,
    apis: list[str],
    vector_files,
    stats: IngestStats,
    imported: ImportStats,
    embedded: EmbedStats | None,
) -> None:
    """One ``ingest_runs`` row per ingest: what was read and what was skipped, queryable later."""
    sources = [f"jsonl:{f}" for f in jsonl] + [f"csv:{f}" for f in csv_files] + [f"vectors:{f}" for f in vector_files]
    sources += [f"{t.kind}:{t.path}" for t in tables]
    sources += apis
    summary = {
        "corpus": corpus,
        "documents": {k: v for k, v in dataclasses.asdict(stats).items() if k != "problems"},
        "problems": stats.problems,
        "precomputed": dataclasses.asdict(imported),
        "embedded": None
        if embedded is None
        else {
            "stored": embedded.stored,
            "failed": embedded.failed,
            "errors": embedded.errors,
            "cut": embedded.cut,
            "mostly_unknown": embedded.mostly_unknown,
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
