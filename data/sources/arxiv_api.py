"""The arXiv API (Atom feed): category queries, paging, politeness, retries, resumable runs.

``fetch_corpus`` reads ``<corpus.arxiv_query> AND submittedDate:[<since> TO <until>]``, newest
first, where ``until`` is fixed when a window starts: papers submitted during a long crawl fall
outside the window, so page boundaries stay put. It waits the API's requested 3 s between calls,
retries 5xx, 429, timeouts, connection errors and spurious empty pages with exponential backoff,
and commits every page as it arrives. The cursor (window and next ``start``) lives in
``ingest_runs`` under ``run_id = arxiv:<corpus>:<query>``: a re-run after a crash continues the
window where it stopped; a re-run after a finished window opens the next one, from the last
``until`` to now, so it fetches only what was submitted since.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from data.corpus import CorpusConfig, Document, IngestStats, split_arxiv_id
from data.sources import BadInput
from data.sources.cursors import load_cursor, store_page
from data.sources.polite_http import PoliteClient, Politeness, Transient
from data.text import collapse_whitespace
from data.warehouse import open_writer

DEFAULT_URL = "https://export.arxiv.org/api/query"
_NS = {"atom": "http://www.w3.org/2005/Atom", "opensearch": "http://a9.com/-/spec/opensearch/1.1/"}


@dataclass(frozen=True)
class ArxivApiSettings:
    """How to talk to the arXiv API."""

    base_url: str | None = None
    """Query endpoint (default: env SAE_ATLAS_ARXIV_URL, else https://export.arxiv.org/api/query)."""
    page_size: int = 200
    """``max_results`` per call (the API serves at most 2000 per call)."""
    delay_s: float = 3.0
    """Pause between calls, as the API's terms ask."""
    max_retries: int = 5
    """Retries of one page on 5xx/429, timeouts, connection errors and empty pages."""
    backoff_s: float = 2.0
    """First retry waits this long; each further retry doubles it."""
    timeout_s: float = 60.0
    """Socket timeout per call."""
    query_limit: int = 30_000
    """The API serves at most this many results of one query; paging stops there."""

    def url(self) -> str:
        return self.base_url or os.environ.get("SAE_ATLAS_ARXIV_URL") or DEFAULT_URL

    def politeness(self) -> Politeness:
        return Politeness(
            "arXiv API",
            ArxivApiError,
            self.delay_s,
            self.max_retries,
            self.backoff_s,
            self.timeout_s,
            give_up_hint=". Without network, ingest local files instead (SAE_ATLAS_DATA_DIR, --jsonl or --csv; "
            "see the README)",
        )


class ArxivApiError(RuntimeError):
    """The API kept failing (or refused the query); what was fetched so far is stored."""


@dataclass
class AtomPage:
    total: int
    documents: list[Document]
    entries: int


def parse_feed(xml_text: str, bad: BadInput, where: str) -> AtomPage:
    """Parse one Atom page of the arXiv API into documents (malformed entries go to ``bad``)."""
    root = ET.fromstring(xml_text)
    total_text = root.findtext("opensearch:totalResults", default="", namespaces=_NS)
    entries = root.findall("atom:entry", _NS)
    documents = []
    for number, entry in enumerate(entries, start=1):
        entry_id = (entry.findtext("atom:id", default="", namespaces=_NS) or "").strip()
        if "/api/errors" in entry_id:  # the API's way of rejecting a query
            raise ArxivApiError(
                f"arXiv API rejected the query at {where}: {entry.findtext('atom:summary', '', _NS).strip()}"
            )
        try:
            documents.append(_document(entry, entry_id))
        except ValueError as error:
            bad.malformed(f"{where} entry {number}", str(error))
    return AtomPage(total=int(total_text) if total_text.strip() else 0, documents=documents, entries=len(entries))


def _document(entry: ET.Element, entry_id: str) -> Document:
    if "/abs/" not in entry_id:
        raise ValueError(f"entry id {entry_id!r} is not an arXiv abstract URL")
    arxiv_id, version = split_arxiv_id(entry_id.split("/abs/", 1)[1])
    title = entry.findtext("atom:title", default="", namespaces=_NS)
    summary = entry.findtext("atom:summary", default="", namespaces=_NS)
    categories = [c.get("term", "") for c in entry.findall("atom:category", _NS) if c.get("term")]
    published = entry.findtext("atom:published", default="", namespaces=_NS).strip()
    return Document(
        arxiv_id=arxiv_id,
        # The feed wraps titles and summaries at ~80 columns; the line breaks carry no meaning.
        title=collapse_whitespace(title),
        abstract=collapse_whitespace(summary),
        categories=categories,
        published=dt.date.fromisoformat(published[:10]) if published else None,
        version=version or 1,
    )


def fetch_corpus(
    warehouse: str | Path,
    corpus: CorpusConfig,
    stats: IngestStats,
    bad: BadInput,
    max_results: int | None = None,
    settings: ArxivApiSettings | None = None,
) -> IngestStats:
    """Fetch ``corpus.arxiv_query`` page by page into ``docs``, newest first; ``max_results`` caps
    the results read from the current window (counted from its first result, so a resumed run
    stops at the same place and a later run without the cap goes on from there).

    The warehouse is opened for writing once per page, only to store it: between pages (the API's
    3 s pauses, its retries) the dashboard and `just sql` can read it."""
    settings = settings or ArxivApiSettings()
    run_id = f"arxiv:{corpus.name}:{corpus.arxiv_query}"
    with open_writer(warehouse) as con:
        stored = load_cursor(con, run_id)
        cursor = _next_window(_Cursor(**stored) if stored is not None else None)
    client = PoliteClient(settings.politeness())
    limit = min(max_results, settings.query_limit) if max_results is not None else settings.query_limit
    search = f"{corpus.arxiv_query} AND submittedDate:[{cursor.since} TO {cursor.until}]"
    while cursor.start < limit and not cursor.finished:
        query = {
            "search_query": search,
            "start": cursor.start,
            "max_results": min(settings.page_size, limit - cursor.start),
            "sortBy": "submittedDate",
            "sortOrder": "descending",
        }
        url = f"{settings.url()}?{urllib.parse.urlencode(query)}"
        expect_entries = cursor.total is None or cursor.start < cursor.total
        page = client.fetch(url, partial(_checked_page, bad=bad, url=url, expect_entries=expect_entries))
        cursor.start += page.entries
        cursor.total = page.total
        # The API serves no more of one query than query_limit: a window ends there too.
        cursor.finished = page.entries == 0 or cursor.start >= min(page.total, settings.query_limit)
        store_page(
            warehouse,
            corpus,
            "arxiv-api",
            url,
            page.documents,
            stats,
            bad,
            run_id,
            dataclasses.asdict(cursor),
            cursor.finished,
        )
    if cursor.total is not None and cursor.start >= settings.query_limit and cursor.total > cursor.start:
        stats.note(
            f"the arXiv API serves at most {settings.query_limit} results of one query; {cursor.total - cursor.start} "
            f"older ones match {search!r}: use the arXiv metadata snapshot (--jsonl) for the whole archive"
        )
    return stats


@dataclass
class _Cursor:
    """Where a query's crawl stands: the submission-date window and the next ``start`` in it."""

    since: str
    until: str
    start: int = 0
    total: int | None = None
    finished: bool = False


_FIRST_SUBMISSION = "199101010000"  # arXiv opened in 1991; the API's dates are YYYYMMDDHHMM in GMT


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M")


def _next_window(cursor: _Cursor | None) -> _Cursor:
    """Continue an unfinished window; after a finished one, open the next: from its ``until`` to now."""
    if cursor is None:
        return _Cursor(since=_FIRST_SUBMISSION, until=_now())
    if not cursor.finished:
        return cursor
    return _Cursor(since=cursor.until, until=_now())


def _checked_page(text: str, bad: BadInput, url: str, expect_entries: bool) -> AtomPage:
    try:
        page = parse_feed(text, bad, url)
    except ET.ParseError as error:  # a truncated or garbled body: ask again
        raise Transient(f"unparseable Atom ({error})") from error
    if expect_entries and page.entries == 0 and page.total > 0:
        # The API now and then answers a valid page with no entries; asking again helps.
        raise Transient("an empty page inside the result range")
    return page
