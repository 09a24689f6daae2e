"""CSV files with ``title`` and ``abstract`` columns.

Columns (header names are case-insensitive):
- ``title``, ``abstract``: required; a file without them is refused with the names it does have.
- ``arxiv_id`` or ``id``: optional. An arXiv id with a version suffix (``2506.01234v2``) gives the
  version. A row without an id gets ``content:<first 16 hex of the text hash>``, derived from the
  title and abstract: re-ingesting the same row finds the same document, an edited row becomes a
  new document (the edit has no id to tie it to the old one).
- ``categories``: optional, space- or comma-separated. Rows without categories (or a file without
  the column) belong to whichever corpus the file is ingested into: the user chose it.
- ``published``: optional ISO date (``YYYY-MM-DD``; a longer timestamp is cut to its date).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from data.corpus import Document, split_arxiv_id
from data.sources import BadInput, InputLines, documents_from

REQUIRED_COLUMNS = ("title", "abstract")
FIELD_LIMIT = 2**31 - 1
"""Largest field the csv module accepts on every platform (a C long)."""
_CATEGORY_SEPARATOR = re.compile(r"[\s,]+")


class CsvFormatError(ValueError):
    """A CSV file that cannot be read as a corpus (e.g. required columns are missing)."""


def read_csv(path: Path, bad: BadInput) -> Iterator[Document]:
    """The documents of an arXiv-style CSV (the columns above; header names case-insensitive)."""

    def check(header: list[str]) -> None:
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise CsvFormatError(
                f"{path}: missing required column(s) {', '.join(missing)}; found {header or 'no header'}. "
                "A corpus CSV needs a header row with at least title and abstract"
            )

    return documents_from(csv_rows(path, bad, check, lower=True), _document, bad)


def csv_rows(
    path: Path, bad: BadInput, check_header: Callable[[list[str]], None], lower: bool = False
) -> Iterator[tuple[str, dict[str, str]]]:
    """``(file:line, row)`` of every row of a CSV file with a header, for every CSV reader.

    Header names are stripped (and lower-cased when ``lower``); ``check_header`` sees them before
    any row is read and raises to refuse the file. A row that cannot be parsed or has the wrong
    number of fields is reported through ``bad`` at the line it starts on, and skipped.
    """
    # Python's default field limit (128 kB) would refuse an abstract the JSONL reader accepts: lift it.
    csv.field_size_limit(FIELD_LIMIT)
    lines = InputLines(path, bad)
    reader = csv.DictReader(lines)
    header = [(name or "").strip() for name in (reader.fieldnames or [])]
    header = [name.lower() for name in header] if lower else header
    check_header(header)
    reader.fieldnames = header
    while True:
        lines.mark()  # rows can span lines (quoted newlines): report where each starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            bad.malformed(f"{path}:{lines.record_start}", f"unreadable CSV ({error})")
            continue
        where = f"{path}:{lines.record_start}"
        if None in row or any(value is None for value in row.values()):
            bad.malformed(where, f"expected {len(header)} fields, got a row of a different length")
            continue
        yield where, row


def content_id(title: str, abstract: str) -> str:
    """The stable id of a row without one: derived from the text that gets embedded."""
    return "content:" + Document("", title, abstract, []).text_hash[:16]


def _document(row: dict[str, str]) -> Document:
    title, abstract = row["title"].strip(), row["abstract"].strip()
    raw_id = (row.get("arxiv_id") or row.get("id") or "").strip()
    arxiv_id, version = split_arxiv_id(raw_id) if raw_id else (content_id(title, abstract), None)
    categories = [c for c in _CATEGORY_SEPARATOR.split(row.get("categories") or "") if c]
    published = (row.get("published") or "").strip()
    try:
        date = dt.date.fromisoformat(published[:10]) if published else None
    except ValueError:
        raise ValueError(f"published {published!r} is not a YYYY-MM-DD date") from None
    return Document(
        arxiv_id=arxiv_id, title=title, abstract=abstract, categories=categories, published=date, version=version or 1
    )
