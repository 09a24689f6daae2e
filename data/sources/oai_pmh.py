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
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from data.corpus import CorpusConfig, Document, IngestStats
from data.docs import ingest_documents
from data.sources import BadInput
from data.sources.cursors import load_cursor, save_cursor
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


class OaiError(RuntimeError):
    """The endpoint kept failing or refused the request; the pages before are stored, a re-run resumes."""


class _Transient(Exception):
    """A failure worth retrying."""


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
        raise _Transient("a response without ListRecords or error")
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
    client = _PoliteClient(settings)
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
            page = client.fetch_page(url, bad)
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
        for document in page.documents:
            if not document.abstract.strip():
                bad.empty_abstract(f"{url} ({document.arxiv_id})")
        with open_writer(warehouse) as con:  # short: readers are not locked out between pages
            ingest_documents(con, (d for d in page.documents if d.abstract.strip()), corpus, "arxiv-oai", stats)
            cursor.token, cursor.pages, cursor.records = page.token, cursor.pages + 1, cursor.records + page.records
            cursor.finished = page.token is None
            # Saved after the page's documents are committed: a crash in between re-reads one page.
            save_cursor(con, run_id, "arxiv-oai", dataclasses.asdict(cursor), cursor.finished)
    return stats


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


class _PoliteClient:
    """GETs at most once per ``delay_s``; waits out ``503 Retry-After``; retries other transient failures."""

    def __init__(self, settings: OaiSettings) -> None:
        self.settings = settings
        self._last_call = float("-inf")

    def fetch_page(self, url: str, bad: BadInput) -> OaiPage:
        delay, failures, waits = self.settings.backoff_s, 0, 0
        while True:
            try:
                retry_after = None
                try:
                    text, retry_after = self._get(url)
                    if retry_after is None:
                        return parse_page(text, bad, url)
                except ET.ParseError as error:  # a truncated or garbled page: ask again
                    raise _Transient(f"unparseable XML ({error})") from error
            except _Transient as error:
                failures += 1
                if failures > self.settings.max_retries:
                    raise OaiError(
                        f"OAI-PMH failed {failures} times at {url} ({error}); the pages before it are stored and a "
                        "re-run continues from here"
                    ) from error
                logger.warning(
                    "OAI-PMH: %s; retry %d of %d in %.0f s", error, failures, self.settings.max_retries, delay
                )
                time.sleep(delay)
                delay *= 2
                continue
            waits += 1
            if waits > self.settings.max_flow_control_waits:
                raise OaiError(f"OAI-PMH kept answering 503 Retry-After at {url}; re-run later, it resumes from here")
            logger.info("OAI-PMH flow control: retrying after %.0f s", retry_after)
            time.sleep(retry_after)

    def _get(self, url: str) -> tuple[str, float | None]:
        """(body, None), or ("", seconds) for a 503 with a usable Retry-After."""
        wait = self._last_call + self.settings.delay_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_call = time.monotonic()
        request = urllib.request.Request(url, headers={"User-Agent": "sae-atlas (OAI-PMH harvester)"})
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                return response.read().decode("utf-8"), None
        except urllib.error.HTTPError as error:
            retry_after = _retry_after_s(error.headers.get("Retry-After")) if error.code == 503 else None
            if retry_after is not None and retry_after <= self.settings.max_retry_after_s:
                return "", retry_after
            if error.code >= 500 or error.code == 429:
                raise _Transient(f"HTTP {error.code}") from error
            raise OaiError(f"OAI-PMH endpoint answered HTTP {error.code} for {url}: {error.reason}") from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise _Transient(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from error


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - dt.datetime.now(dt.timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None
