"""Whole arXiv archives through OAI-PMH: ListRecords in the ``arXiv`` metadata format, one set.

``harvest`` lists ``verb=ListRecords&metadataPrefix=arXiv&set=<corpus.oai_set>`` and follows the
resumption tokens to the end, committing every page (one short writer connection per page, so the
dashboard can read during an hours-long harvest). It is

- resumable: the cursor (the window's ``from`` date, the next resumption token, counts) lives in
  ``ingest_runs`` under ``run_id = oai:<corpus>:<set>``, saved after each page's documents; a re-run
  after a crash continues with the stored token;
- polite: a fixed pause between calls, and arXiv's flow control honoured: a ``503`` with
  ``Retry-After`` is waited out (it does not count as a failure); other 5xx, timeouts, connection
  errors and unparseable pages are retried with backoff;
- robust to an expired token (``badResumptionToken``): the window is listed again from its start
  (documents already stored are unchanged, so nothing is duplicated);
- incremental: after a finished harvest the next one asks only ``from=`` the day the last one began.

arXiv's format has no version number: harvested documents are stored as version 1 (a later abstract
replaces an earlier one of the same id, except over a higher version stored from the arXiv API).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from data.corpus import CorpusConfig, Document, IngestStats
from data.sources import BadInput
from data.sources.cursors import load_cursor, store_page
from data.sources.polite_http import PoliteClient, Politeness, Transient
from data.text import collapse_whitespace
from data.warehouse import open_writer

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://oaipmh.arxiv.org/oai"
_NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "arxiv": "http://arxiv.org/OAI/arXiv/"}


@dataclass(frozen=True)
class OaiSettings:
    """How to talk to an OAI-PMH endpoint."""

    base_url: str | None = None
    """Endpoint (default: env SAE_ATLAS_OAI_URL, else https://oaipmh.arxiv.org/oai)."""
    delay_s: float = 5.0
    """Fixed pause between calls."""
    max_retries: int = 5
    """Retries of one call on 5xx without Retry-After, timeouts, connection errors and unparseable pages."""
    backoff_s: float = 5.0
    """First retry waits this long; each further retry doubles it."""
    max_retry_after_s: float = 600.0
    """A longer ``Retry-After`` than this is treated as a failure (the server is down, not busy)."""
    max_flow_control_waits: int = 50
    """How many ``503 Retry-After`` in a row are waited out before giving up."""
    max_restarts: int = 3
    """How many times an expired resumption token restarts the window before giving up."""
    timeout_s: float = 120.0
    """Socket timeout per call."""

    def url(self) -> str:
        return self.base_url or os.environ.get("SAE_ATLAS_OAI_URL") or DEFAULT_URL

    def politeness(self) -> Politeness:
        return Politeness(
            "OAI-PMH",
            OaiError,
            self.delay_s,
            self.max_retries,
            self.backoff_s,
            self.timeout_s,
            max_retry_after_s=self.max_retry_after_s,
            max_flow_control_waits=self.max_flow_control_waits,
        )


class OaiError(RuntimeError):
    """The endpoint kept failing or refused the request; the pages before are stored, a re-run resumes."""


class _ExpiredToken(Exception):
    """The server no longer knows the resumption token."""


@dataclass
class OaiPage:
    documents: list[Document]
    records: int
    """Records on the page, deleted ones included."""
    token: str | None
    """The next resumption token; None (or empty) on the last page."""


@dataclass
class _Cursor:
    """Where a set's harvest stands: the window's ``from`` date (None = everything), the next token."""

    from_date: str | None
    started: str
    """The day this window was opened; the next window starts ``from`` it."""
    token: str | None = None
    pages: int = 0
    records: int = 0
    finished: bool = False


def parse_page(xml_text: str, bad: BadInput, where: str) -> OaiPage:
    """One ListRecords response -> documents; raises for OAI errors (an expired token, a refused request)."""
    root = ET.fromstring(xml_text)
    error = root.find("oai:error", _NS)
    if error is not None:
        code = error.get("code", "")
        if code == "noRecordsMatch":  # an empty window (nothing changed since the last harvest)
            return OaiPage([], 0, None)
        if code == "badResumptionToken":
            raise _ExpiredToken((error.text or "").strip())
        raise OaiError(f"OAI-PMH error {code!r} at {where}: {(error.text or '').strip()}")
    listing = root.find("oai:ListRecords", _NS)
    if listing is None:
        raise Transient("a response without ListRecords or error")
    records = listing.findall("oai:record", _NS)
    documents = []
    for number, record in enumerate(records, start=1):
        header = record.find("oai:header", _NS)
        if header is not None and header.get("status") == "deleted":
            continue
        try:
            documents.append(_document(record))
        except ValueError as problem:
            bad.malformed(f"{where} record {number}", str(problem))
    token = listing.findtext("oai:resumptionToken", default="", namespaces=_NS).strip()
    return OaiPage(documents, len(records), token or None)


def _document(record: ET.Element) -> Document:
    meta = record.find("oai:metadata/arxiv:arXiv", _NS)
    if meta is None:
        raise ValueError("no arXiv metadata (is metadataPrefix=arXiv?)")
    arxiv_id = (meta.findtext("arxiv:id", default="", namespaces=_NS) or "").strip()
    if not arxiv_id:
        raise ValueError("no <id>")
    created = (meta.findtext("arxiv:created", default="", namespaces=_NS) or "").strip()
    try:
        published = dt.date.fromisoformat(created[:10]) if created else None
    except ValueError:
        raise ValueError(f"created {created!r} is not a YYYY-MM-DD date") from None
    return Document(
        arxiv_id=arxiv_id,
        title=collapse_whitespace(meta.findtext("arxiv:title", default="", namespaces=_NS)),
        abstract=collapse_whitespace(meta.findtext("arxiv:abstract", default="", namespaces=_NS)),
        categories=(meta.findtext("arxiv:categories", default="", namespaces=_NS) or "").split(),
        published=published,
    )


def harvest(
    warehouse: str | Path, corpus: CorpusConfig, stats: IngestStats, bad: BadInput, settings: OaiSettings | None = None
) -> IngestStats:
    """Harvest ``corpus.oai_set`` into ``warehouse`` (see the module docstring)."""
    if not corpus.oai_set:
        raise ValueError(f"corpus {corpus.name!r} has no oai_set (e.g. physics:astro-ph) to harvest with --all")
    settings = settings or OaiSettings()
    run_id = f"oai:{corpus.name}:{corpus.oai_set}"
    with open_writer(warehouse) as con:
        cursor = _next_window(load_cursor(con, run_id))
    client = PoliteClient(settings.politeness())
    restarts = 0
    while not cursor.finished:
        query = {"verb": "ListRecords"}
        if cursor.token:
            query["resumptionToken"] = cursor.token
        else:
            query.update(
                metadataPrefix="arXiv", set=corpus.oai_set, **({"from": cursor.from_date} if cursor.from_date else {})
            )
        url = f"{settings.url()}?{urllib.parse.urlencode(query)}"
        try:
            page = client.fetch(url, partial(_parsed_page, bad=bad, url=url))
        except _ExpiredToken as error:
            restarts += 1
            if restarts > settings.max_restarts:
                raise OaiError(f"resumption tokens keep expiring at {url} ({error}); re-run later") from error
            logger.warning(
                "OAI-PMH: resumption token expired (%s); listing the window again from %s", error, cursor.from_date
            )
            stats.note(f"{url}: resumption token expired; the window was listed again from its start")
            cursor.token = None
            continue
        cursor.token, cursor.pages, cursor.records = page.token, cursor.pages + 1, cursor.records + page.records
        cursor.finished = page.token is None
        store_page(
            warehouse,
            corpus,
            "arxiv-oai",
            url,
            page.documents,
            stats,
            bad,
            run_id,
            dataclasses.asdict(cursor),
            cursor.finished,
        )
    return stats


def _parsed_page(text: str, bad: BadInput, url: str) -> OaiPage:
    try:
        return parse_page(text, bad, url)
    except ET.ParseError as error:  # a truncated or garbled page: ask again
        raise Transient(f"unparseable XML ({error})") from error


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def _next_window(stored: dict | None) -> _Cursor:
    """Continue an unfinished window; after a finished one, open the next from the day it began."""
    if stored is None:
        return _Cursor(from_date=None, started=_today())
    cursor = _Cursor(**stored)
    if not cursor.finished:
        return cursor
    return _Cursor(from_date=cursor.started, started=_today())
