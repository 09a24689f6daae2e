"""Corpus definitions (sources, a filter, an embedding model) and the document record every source yields."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from data.settings import corpus_dir
from data.split import DEFAULT_TEST_FRACTION, check_test_fraction
from data.text import embedding_text, text_hash


@dataclass(frozen=True)
class CorpusConfig:
    """A named corpus: where its documents come from, which of them belong to it, how they are embedded."""

    name: str
    """Short name; also the warehouse file name (``artifacts/<name>.duckdb``)."""
    categories: list[str] | None = None
    """The arXiv category filter: shell-style patterns, a document belongs if any of its categories
    matches one. None: no category filter (a non-arXiv collection)."""
    arxiv_query: str = ""
    """The arXiv API ``search_query`` that lists this corpus ("" = no arXiv API source)."""
    oai_set: str = ""
    """The arXiv OAI-PMH set that holds the whole corpus, for ``just data <name> --all`` (e.g. physics:astro-ph)."""
    where: dict[str, list] = field(default_factory=dict)
    """The metadata filter: ``{column: [accepted values]}``; a document belongs if, for every column
    named, its metadata value is one of those listed (compared as text)."""
    sources: list[TableSource] = field(default_factory=list)
    """Files read by ``just data <name>`` when none is named on the command line."""
    embed_backend: str = "local"
    """``local`` (any sentence-transformers model, offline for a local path) or ``openai``."""
    embed_model: str = "all-MiniLM-L6-v2"
    """Model name, hub id or local folder; also the cache key of the stored vectors."""
    test_fraction: float = DEFAULT_TEST_FRACTION
    """Share of documents in the test split (by a stable hash of the id; see ``data/split.py``)."""
    embed_timeout_s: float = 60.0
    """openai backend: seconds one embedding request may take before it is retried."""
    embed_retries: int = 5
    """openai backend: retries of a request that timed out or failed (429, 5xx, connection), with backoff."""

    def __post_init__(self) -> None:
        check_test_fraction(self.test_fraction, f"corpus {self.name!r}")
        if not isinstance(self.where, dict) or not all(isinstance(v, list) for v in self.where.values()):
            raise ValueError(f"corpus {self.name!r}: where must map metadata columns to lists of accepted values")
        object.__setattr__(
            self, "sources", [s if isinstance(s, TableSource) else TableSource.from_config(s) for s in self.sources]
        )

    def embedder_options(self) -> dict:
        """The backend options this config sets (the local model makes no requests)."""
        if self.embed_backend == "openai":
            return {"timeout_s": self.embed_timeout_s, "max_retries": self.embed_retries}
        return {}

    def accepts(self, categories: list[str], metadata: dict | None = None) -> bool:
        """True if the document passes both filters. A document without categories (a CSV or a
        precomputed ``.npy`` import that carries none) passes the category filter: the user chose
        the corpus it is ingested into."""
        if (
            categories
            and self.categories is not None
            and not any(fnmatch.fnmatchcase(c, p) for c in categories for p in self.categories)
        ):
            return False
        metadata = metadata or {}
        return all(str(metadata.get(column)) in {str(v) for v in accepted} for column, accepted in self.where.items())


TABLE_FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class TableSource:
    """A CSV, JSONL or Parquet file of any text collection and which of its columns mean what."""

    path: Path
    """The file (``.gz`` ok for CSV and JSONL); relative paths are relative to the working directory."""
    format: str | None = None
    """``csv`` | ``jsonl`` | ``parquet``; default from the file suffix."""
    text_column: str = "text"
    """The text to embed (the body when ``title_column`` is set too)."""
    title_column: str | None = None
    """An optional title, embedded as ``title + "\\n\\n" + text``."""
    id_column: str | None = None
    """A stable document id. None: the ``id`` column if the file has one, else ``content:<16 hex>`` of
    the text's SHA-256, so the same row is the same document on every run (and an edited row a new one)."""
    date_column: str | None = None
    """An optional date (ISO ``YYYY-MM-DD`` text, a timestamp, or a Parquet date) -> ``docs.published``."""
    metadata_columns: list[str] | None = None
    """Columns kept in ``docs.metadata``; None keeps every column not used above, [] none."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.kind not in TABLE_FORMATS:
            raise ValueError(
                f"{self.path}: unknown table format {self.kind!r}; use one of {', '.join(TABLE_FORMATS)} (format: ...)"
            )

    @property
    def kind(self) -> str:
        """The format, given or from the suffix (``reviews.csv.gz`` -> csv, ``x.json`` -> jsonl)."""
        if self.format:
            return self.format
        suffixes = [s for s in self.path.suffixes if s != ".gz"]
        suffix = suffixes[-1].lstrip(".").lower() if suffixes else ""
        return {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)

    @classmethod
    def from_config(cls, raw: dict) -> TableSource:
        if not isinstance(raw, dict) or "path" not in raw:
            raise ValueError(f"a corpus source needs at least a path, got {raw!r}")
        return cls(**raw)

    def to_config(self) -> dict:
        """The YAML form: the path and every setting that differs from the default."""
        defaults = TableSource(self.path)
        config = {"path": str(self.path)}
        for name in ("format", "text_column", "title_column", "id_column", "date_column", "metadata_columns"):
            if getattr(self, name) != getattr(defaults, name):
                config[name] = getattr(self, name)
        return config


def corpus_config_path(name: str) -> Path:
    return corpus_dir() / f"{name}.yaml"


def load_corpus_config(name: str) -> CorpusConfig:
    path = corpus_config_path(name)
    if not path.exists():
        known = sorted(p.stem for p in corpus_dir().glob("*.yaml"))
        raise ValueError(
            f"unknown corpus {name!r}: no {path}; known corpora: {', '.join(known)}. Create one by naming its "
            f"files, e.g. `just data {name} --csv reviews.csv --text-column body`"
        )
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        return CorpusConfig(**raw)
    except TypeError as error:
        raise ValueError(f"{path}: {error}") from error


def write_corpus_config(corpus: CorpusConfig, comment: str) -> Path:
    """Save a corpus as ``<corpus dir>/<name>.yaml`` (atomically), so later runs need no arguments."""
    path = corpus_config_path(corpus.name)
    raw: dict[str, object] = {"name": corpus.name}
    if corpus.categories is not None:
        raw["categories"] = corpus.categories
    if corpus.arxiv_query:
        raw["arxiv_query"] = corpus.arxiv_query
    if corpus.oai_set:
        raw["oai_set"] = corpus.oai_set
    if corpus.where:
        raw["where"] = corpus.where
    raw["sources"] = [source.to_config() for source in corpus.sources]
    raw.update(embed_backend=corpus.embed_backend, embed_model=corpus.embed_model, test_fraction=corpus.test_fraction)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".yaml.partial")
    partial.write_text(f"# {comment}\n" + yaml.safe_dump(raw, sort_keys=False))
    partial.replace(path)
    return path


_VERSION_SUFFIX = re.compile(r"^(?P<id>.+?)v(?P<version>\d+)$")


def split_arxiv_id(value: str) -> tuple[str, int | None]:
    """``"2506.01234v2"`` -> ``("2506.01234", 2)``; ``"astro-ph/0501001"`` -> ``("astro-ph/0501001", None)``."""
    value = value.strip()
    match = _VERSION_SUFFIX.match(value)
    if match is None:
        return value, None
    return match["id"], int(match["version"])


@dataclass
class Document:
    """One document (an arXiv abstract, or a text of any collection) as a source yields it, before it gets a doc_id."""

    arxiv_id: str
    title: str
    abstract: str
    categories: list[str]
    published: dt.date | None = None
    version: int = 1
    metadata: dict | None = None
    """Any other columns of a non-arXiv collection, stored as JSON in ``docs.metadata``."""

    @property
    def text(self) -> str:
        return embedding_text(self.title, self.abstract)

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)


@dataclass
class IngestStats:
    """What an ingest saw; every skipped input is counted, and the first few are described."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    outside_corpus: int = 0
    empty_abstract: int = 0
    malformed: int = 0
    cut_short: int = 0
    """Input files that end early (e.g. a truncated ``.gz``); the lines before the damage are read."""
    problems: list[str] = field(default_factory=list)

    def note(self, message: str, keep: int = 20) -> None:
        if len(self.problems) < keep:
            self.problems.append(message)
