"""Corpus definitions (a category filter) and the document record that every source yields."""
from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from data.settings import CONF_DIR
from data.split import DEFAULT_TEST_FRACTION, check_test_fraction
from data.text import embedding_text, text_hash


@dataclass(frozen=True)
class CorpusConfig:
    """A named corpus: which arXiv categories belong to it and how it is embedded."""

    name: str
    """Short name; also the warehouse file name (``artifacts/<name>.duckdb``)."""
    categories: list[str]
    """Shell-style category patterns; a document belongs if any of its categories matches one."""
    arxiv_query: str
    """The arXiv API ``search_query`` that lists this corpus."""
    embed_backend: str = "local"
    """``local`` (all-MiniLM-L6-v2, offline) or ``openai``."""
    embed_model: str = "all-MiniLM-L6-v2"
    """Model name; also the cache key of the stored vectors."""
    test_fraction: float = DEFAULT_TEST_FRACTION
    """Share of documents in the test split (by a stable hash of the id; see ``data/split.py``)."""
    embed_timeout_s: float = 60.0
    """openai backend: seconds one embedding request may take before it is retried."""
    embed_retries: int = 5
    """openai backend: retries of a request that timed out or failed (429, 5xx, connection), with backoff."""

    def __post_init__(self) -> None:
        check_test_fraction(self.test_fraction, f"corpus {self.name!r}")

    def embedder_options(self) -> dict:
        """The backend options this config sets (the local model makes no requests)."""
        if self.embed_backend == "openai":
            return {"timeout_s": self.embed_timeout_s, "max_retries": self.embed_retries}
        return {}

    def accepts(self, categories: list[str]) -> bool:
        """True if any category matches. A document without categories (a CSV or a precomputed
        ``.npy`` import that carries none) belongs to whichever corpus the user ingests it into."""
        if not categories:
            return True
        return any(fnmatch.fnmatchcase(c, p) for c in categories for p in self.categories)


def load_corpus_config(name: str, conf_dir: Path = CONF_DIR) -> CorpusConfig:
    path = conf_dir / "corpus" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (conf_dir / "corpus").glob("*.yaml"))
        raise ValueError(f"unknown corpus {name!r}: no {path}; known corpora: {', '.join(known)}")
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        return CorpusConfig(**raw)
    except TypeError as error:
        raise ValueError(f"{path}: {error}") from error


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
    """One arXiv abstract as a source yields it, before it gets a warehouse doc_id."""

    arxiv_id: str
    title: str
    abstract: str
    categories: list[str]
    published: dt.date | None = None
    version: int = 1

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
