"""Any text collection as CSV, JSONL or Parquet, with the columns a ``TableSource`` names.

Each row becomes a ``Document``: ``text_column`` (and ``title_column``) is what gets embedded,
``id_column`` the stable id (``docs.arxiv_id``, which the test split hashes), ``date_column`` the
date, and the metadata columns go to ``docs.metadata`` as JSON. A file that lacks a named column is
refused before anything is read, naming the columns it has; a row that cannot be used is reported
with its file and line (or Parquet row) and skipped, or aborts the run under ``--strict``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from functools import partial
from typing import Any

import pyarrow.parquet as pq

from data.corpus import Document, TableSource
from data.sources import BadInput, documents_from
from data.sources.csv_source import content_id, csv_rows
from data.sources.jsonl import json_objects

_PARQUET_BATCH = 10_000


class TableFormatError(ValueError):
    """A table that cannot be read as the source describes (a named column is missing)."""


def read_table(source: TableSource, bad: BadInput) -> Iterator[Document]:
    rows = {"csv": _csv_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows}[source.kind](source, bad)
    return documents_from(rows, partial(_document, source), bad)


def _named_columns(source: TableSource) -> list[str]:
    named = [source.text_column, source.title_column, source.id_column, source.date_column]
    return [c for c in named if c] + list(source.metadata_columns or [])


def _check_header(source: TableSource, header: list[str]) -> None:
    missing = [c for c in _named_columns(source) if c not in header]
    if missing:
        raise TableFormatError(
            f"{source.path}: no column(s) {', '.join(map(repr, missing))}; found {header or 'no columns'}. "
            "Name the right ones with --text-column, --title-column, --id-column, --date-column, --metadata-columns "
            "(or in the corpus's sources)"
        )


def _csv_rows(source: TableSource, bad: BadInput) -> Iterator[tuple[str, dict]]:
    return csv_rows(source.path, bad, partial(_check_header, source))


def _jsonl_rows(source: TableSource, bad: BadInput) -> Iterator[tuple[str, dict]]:
    return json_objects(source.path, bad)


def _parquet_rows(source: TableSource, bad: BadInput) -> Iterator[tuple[str, dict]]:
    if not source.path.exists():
        raise FileNotFoundError(f"input file {source.path} does not exist; check the path you passed")
    table = pq.ParquetFile(source.path)
    _check_header(source, table.schema_arrow.names)
    number = 0
    for batch in table.iter_batches(batch_size=_PARQUET_BATCH):
        for row in batch.to_pylist():
            number += 1
            yield f"{source.path}: row {number}", row


def _document(source: TableSource, row: dict) -> Document:
    text = _text(row, source.text_column)
    title = _text(row, source.title_column) if source.title_column else ""
    id_column = source.id_column or ("id" if "id" in row else None)
    if id_column is None:
        doc_id = content_id(title, text)
    else:
        value = row.get(id_column)
        doc_id = "" if value is None else str(value).strip()
        if not doc_id:
            raise ValueError(f"no id in column {id_column!r}")
    used = {source.text_column, source.title_column, id_column, source.date_column}
    columns = source.metadata_columns if source.metadata_columns is not None else [c for c in row if c not in used]
    return Document(
        arxiv_id=doc_id,
        title=title,
        abstract=text,
        categories=[],
        published=_date(row.get(source.date_column)) if source.date_column else None,
        metadata={column: _json_value(row.get(column)) for column in columns} or None,
    )


def _text(row: dict, column: str) -> str:
    if column not in row:
        raise ValueError(f"no field {column!r}")
    value = row[column]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"field {column!r} is {type(value).__name__}, not text")
    return value.strip()


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValueError(f"date {value!r} is not a YYYY-MM-DD date") from None


def _json_value(value: Any) -> Any:
    """Metadata as JSON: numbers, text, booleans, lists and objects as they are; dates as ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; a missing number is a missing value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)
