"""A small arXiv-API-compatible HTTP server on 127.0.0.1 for tests: real sockets, real Atom XML.

Serves ``GET /api/query?search_query=cat:<pattern>[ AND submittedDate:[A TO B]]&start=&max_results=
&sortBy=submittedDate&sortOrder=ascending|descending`` from a list of records (``arxiv_id, title,
abstract, categories, published, version``; a record counts as submitted at noon GMT of
``published``), in the API's Atom format.
Faults are injected from a queue: the next request takes the next fault (an HTTP status code,
``"hang"`` to sleep past the client's timeout, ``"garbled"`` for truncated XML, ``"empty"`` for a
page without entries).

    with FakeArxiv(records) as server:
        server.faults += [503, 503]
        fetch_corpus(..., settings=ArxivApiSettings(base_url=server.url, delay_s=0))
"""

from __future__ import annotations

import fnmatch
import re
import textwrap
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape, quoteattr

from tests.local_http import LocalHTTPServer, reply


def _wrap(text: str) -> str:
    """Wrap like the real feed does (indented continuation lines), never splitting a word."""
    return textwrap.fill(text, 80, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)


def atom_feed(entries: list[dict], total: int, start: int, page_size: int) -> str:
    """One page of the arXiv API's Atom response for ``entries``."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom">',
        '<link href="http://arxiv.org/api/query" rel="self" type="application/atom+xml"/>',
        '<title type="html">ArXiv Query</title>',
        "<id>http://arxiv.org/api/test</id>",
        "<updated>2026-05-01T00:00:00-04:00</updated>",
        f"<opensearch:totalResults>{total}</opensearch:totalResults>",
        f"<opensearch:startIndex>{start}</opensearch:startIndex>",
        f"<opensearch:itemsPerPage>{page_size}</opensearch:itemsPerPage>",
    ]
    for record in entries:
        versioned = f"{record['arxiv_id']}v{record.get('version', 1)}"
        categories = record["categories"]
        parts += [
            "<entry>",
            f"<id>http://arxiv.org/abs/{escape(versioned)}</id>",
            f"<updated>{record['published']}T12:00:00Z</updated>",
            f"<published>{record['published']}T12:00:00Z</published>",
            # The real API wraps titles and summaries over several indented lines.
            f"<title>{escape(_wrap(record['title']))}</title>",
            f"<summary>  {escape(_wrap(record['abstract']))}\n</summary>",
            "<author><name>A. Author</name></author>",
            f'<link href="http://arxiv.org/abs/{escape(versioned)}" rel="alternate" type="text/html"/>',
            f'<arxiv:primary_category term={quoteattr(categories[0])} scheme="http://arxiv.org/schemas/atom"/>',
            *(f'<category term={quoteattr(c)} scheme="http://arxiv.org/schemas/atom"/>' for c in categories),
            "</entry>",
        ]
    parts.append("</feed>")
    return "\n".join(parts)


class FakeArxiv(LocalHTTPServer):
    def __init__(self, records: list[dict]) -> None:
        self.records = sorted(records, key=lambda r: (r["published"], r["arxiv_id"]))  # sortBy=submittedDate
        self.faults: deque = deque()
        self.requests: list[dict] = []
        self.hang_s = 2.5
        """How long a ``"hang"`` fault stalls (longer than the client's timeout in the test)."""
        self.max_page: int | None = None
        """Serve at most this many entries per call, whatever ``max_results`` asks (the real API may serve fewer)."""
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return self.origin + "/api/query"

    def _matching(self, query: dict) -> list[dict]:
        match = re.fullmatch(
            r"cat:(\S+)(?: AND submittedDate:\[(\d{12}) TO (\d{12})\])?", query.get("search_query", "")
        )
        if match is None:
            return []
        pattern, since, until = match.groups()
        found = [
            r
            for r in self.records
            if any(fnmatch.fnmatchcase(c, pattern) for c in r["categories"])
            and (since is None or since <= r["published"].replace("-", "") + "1200" <= until)
        ]
        return found[::-1] if query.get("sortOrder") == "descending" else found

    def _respond(self, query: dict) -> tuple[int, str]:
        with self._lock:
            self.requests.append(query)
            fault = self.faults.popleft() if self.faults else None
        if isinstance(fault, int):
            return fault, "<error>injected</error>"
        if fault == "hang":
            time.sleep(self.hang_s)
        matching = self._matching(query)
        start, size = int(query.get("start", 0)), int(query.get("max_results", 10))
        size = min(size, self.max_page or size)
        page = [] if fault == "empty" else matching[start : start + size]
        body = atom_feed(page, len(matching), start, size)
        if fault == "garbled":
            body = body[: len(body) // 2]
        return 200, body

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parsed = urllib.parse.urlsplit(self.path)
                if parsed.path != "/api/query":
                    status, body = 404, "not found"
                else:
                    status, body = server._respond(dict(urllib.parse.parse_qsl(parsed.query)))
                payload = body.encode("utf-8")
                reply(self, status, payload, "application/atom+xml; charset=utf-8")

            def log_message(self, *args) -> None:
                pass

        return Handler
