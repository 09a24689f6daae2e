"""JSONL listings: the arXiv metadata snapshot and the shared daily-listing files.

Two shapes are recognised per line:
- snapshot: ``id``, ``title``, ``abstract``, ``categories`` (space-separated), ``versions``, ``update_date``;
- listing:  ``arxiv_id``, ``title``, ``abstract``, ``categories`` (list), ``listing_date``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

from data.corpus import Document, split_arxiv_id
from data.sources import BadInput, InputLines, documents_from


def json_objects(path: Path, bad: BadInput) -> Iterator[tuple[str, dict]]:
    """(``file:line``, object) of every JSON-object line; other lines are reported through ``bad`` and skipped."""
    lines = InputLines(path, bad)
    for line in lines:
        if not line.strip():
            continue
        where = f"{path}:{lines.number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            bad.malformed(where, f"not valid JSON ({error.msg})")
            continue
        if not isinstance(record, dict):
            bad.malformed(where, "expected a JSON object")
            continue
        yield where, record


def read_jsonl(path: Path, bad: BadInput) -> Iterator[Document]:
    return documents_from(json_objects(path, bad), _usable_document, bad)


def _usable_document(record: dict) -> Document:
    try:
        return _document(record)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"unusable record ({error})") from error


def _document(record: dict) -> Document:
    arxiv_id = record.get("arxiv_id") or record.get("id")
    if not arxiv_id or not isinstance(arxiv_id, str):
        raise ValueError("missing arxiv_id/id")
    if "title" not in record:
        raise ValueError("missing field 'title'")
    title = record["title"]
    abstract = record.get("abstract") or ""
    if not isinstance(title, str) or not isinstance(abstract, str):
        raise ValueError("title and abstract must be strings")
    categories = record.get("categories") or []
    if isinstance(categories, str):
        categories = categories.split()
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise ValueError("categories must be a list or a space-separated string")
    versions = record.get("versions") or []
    arxiv_id, suffix_version = split_arxiv_id(arxiv_id)
    return Document(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        categories=categories,
        published=_published(record, versions),
        version=max(len(versions), suffix_version or 1),
    )


def _published(record: dict, versions: list) -> dt.date | None:
    if versions and isinstance(versions[0], dict) and versions[0].get("created"):
        return parsedate_to_datetime(versions[0]["created"]).date()
    for key in ("published", "listing_date", "update_date"):
        if record.get(key):
            return dt.date.fromisoformat(str(record[key])[:10])
    return None
