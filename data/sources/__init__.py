"""Corpus sources. Each yields ``Document``s and reports bad input through ``BadInput``."""

from __future__ import annotations

import codecs
import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from data.corpus import Document, IngestStats

Row = TypeVar("Row")


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

    def cut_short(self, path: Path, last_good_line: int, reason: str) -> None:
        """A file that ends early: what was read before stays read; the rest of the file is lost."""
        message = (
            f"{path}: the file ends early after line {last_good_line} ({reason}); lines 1-{last_good_line} were "
            "read, the rest is missing: get a complete copy and ingest it again (nothing is stored twice)"
        )
        if self.strict:
            raise MalformedInput(f"{message} (run without --strict to keep the lines before the damage)")
        self.stats.cut_short += 1
        self.stats.note(message)

    def empty_abstract(self, where: str) -> None:
        self.stats.empty_abstract += 1
        self.stats.note(f"{where}: empty or missing abstract, skipped")


class InputLines:
    """The lines of one input file, for every line-based reader (JSONL, CSV, ...), each decoded on its own.

    ``*.gz`` is gunzipped and a leading UTF-8 BOM dropped. A line that is not UTF-8 is reported as
    ``file:line`` through ``BadInput`` and skipped; a file that ends early (a truncated or corrupt ``.gz``)
    keeps every line read before the damage and is reported naming its last good line. Iterating yields
    the text of each line with its line ending, as ``csv`` wants; ``number`` is the line last yielded.
    """

    def __init__(self, path: Path, bad: BadInput) -> None:
        if not path.exists():
            raise FileNotFoundError(f"input file {path} does not exist; check the path you passed")
        self.path, self.bad = path, bad
        self.number = 0
        self._first_since_mark: int | None = None

    def mark(self) -> None:
        """Start a record (e.g. a CSV row that may span lines); ``record_start`` is then its first line."""
        self._first_since_mark = None

    @property
    def record_start(self) -> int:
        return self._first_since_mark if self._first_since_mark is not None else self.number + 1

    def __iter__(self) -> Iterator[str]:
        opener = gzip.open if self.path.suffix == ".gz" else open
        number = 0
        with opener(self.path, "rb") as handle:
            try:
                for number, raw in enumerate(handle, start=1):
                    if number == 1:
                        raw = raw.removeprefix(codecs.BOM_UTF8)
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError as error:
                        self.bad.malformed(
                            f"{self.path}:{number}",
                            f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1}); "
                            "convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                        )
                        continue
                    self.number = number
                    if self._first_since_mark is None:
                        self._first_since_mark = number
                    yield text
            except (EOFError, OSError, zlib.error) as error:  # gzip: truncated (EOFError) or corrupt data
                self.bad.cut_short(self.path, number, f"{type(error).__name__}: {error}")


def documents_from(
    rows: Iterable[tuple[str, Row]], to_document: Callable[[Row], Document], bad: BadInput
) -> Iterator[Document]:
    """The documents of ``(where, row)`` pairs, every reader's last step: a row ``to_document`` refuses
    (ValueError) is reported as malformed at ``where``, one with an empty abstract is counted; both are skipped."""
    for where, row in rows:
        try:
            document = to_document(row)
        except ValueError as error:
            bad.malformed(where, str(error))
            continue
        if not document.abstract.strip():
            bad.empty_abstract(where)
            continue
        yield document
