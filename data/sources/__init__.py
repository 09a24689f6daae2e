"""Corpus sources. Each yields ``Document``s and reports bad input through ``BadInput``."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO

from data.corpus import IngestStats


class MalformedInput(ValueError):
    """A line or row that cannot be read; raised only in strict mode, else counted and skipped."""


class BadInput:
    """Counts malformed input, or aborts on the first one when ``strict``."""

    def __init__(self, stats: IngestStats, strict: bool) -> None:
        self.stats = stats
        self.strict = strict

    def malformed(self, where: str, reason: str) -> None:
        message = f"{where}: {reason}"
        if self.strict:
            raise MalformedInput(f"{message} (run without --strict to skip and count such lines)")
        self.stats.malformed += 1
        self.stats.note(message)

    def empty_abstract(self, where: str) -> None:
        self.stats.empty_abstract += 1
        self.stats.note(f"{where}: empty or missing abstract, skipped")


def open_text(path: Path, newline: str | None = None) -> IO[str]:
    """Open a UTF-8 text file (a leading BOM is dropped), transparently gunzipping ``*.gz``.

    ``newline=""`` hands line endings through untranslated, as the ``csv`` module needs.
    """
    if not path.exists():
        raise FileNotFoundError(f"input file {path} does not exist; check the path you passed")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=newline)
    return path.open("r", encoding="utf-8-sig", newline=newline)
