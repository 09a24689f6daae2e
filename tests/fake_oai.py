"""A small OAI-PMH endpoint on 127.0.0.1 serving arXiv-format records, as arXiv's does.

Serves ``GET /oai?verb=ListRecords&metadataPrefix=arXiv&set=<set>[&from=YYYY-MM-DD]`` and
``?verb=ListRecords&resumptionToken=<token>`` from records (``arxiv_id, title, abstract, categories,
published, datestamp``; ``deleted: True`` for a deleted record), ``page_size`` records a page, with
OAI errors for an unknown format, no matching records, and a token the server no longer knows.
Faults come from a queue, one per request: ``("retry_after", seconds)`` answers 503 with a
``Retry-After`` header (arXiv's flow control), an int answers that HTTP status, ``"malformed"``
truncates the page, ``"expire"`` forgets every token issued so far (the request gets
``badResumptionToken``).
"""

from __future__ import annotations

import textwrap
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape

from tests.local_http import LocalHTTPServer, reply

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
    "<responseDate>2026-05-01T00:00:00Z</responseDate>\n"
)


def set_specs(categories: list[str]) -> set[str]:
    """arXiv's sets of a record: ``astro-ph.GA`` -> ``physics:astro-ph``, ``cs.LG`` -> ``cs``,
    ``math.ST`` -> ``math``."""
    specs = set()
    for category in categories:
        archive = category.split(".")[0]
        specs.add(
            archive if archive in {"cs", "math", "stat", "q-bio", "q-fin", "econ", "eess"} else f"physics:{archive}"
        )
    return specs


def _record_xml(record: dict) -> str:
    header = (
        f"<identifier>oai:arXiv.org:{escape(record['arxiv_id'])}</identifier>"
        f"<datestamp>{record['datestamp']}</datestamp>"
        + "".join(f"<setSpec>{escape(s)}</setSpec>" for s in sorted(set_specs(record["categories"])))
    )
    if record.get("deleted"):
        return f'<record><header status="deleted">{header}</header></record>'

    def wrap(text: str) -> str:
        return textwrap.fill(text, 80, subsequent_indent="  ", break_long_words=False)

    return (
        f"<record><header>{header}</header><metadata>"
        '<arXiv xmlns="http://arxiv.org/OAI/arXiv/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://arxiv.org/OAI/arXiv/ http://arxiv.org/OAI/arXiv.xsd">'
        f"<id>{escape(record['arxiv_id'])}</id><created>{record['published']}</created>"
        "<authors><author><keyname>Author</keyname><forenames>A.</forenames></author></authors>"
        f"<title>{escape(wrap(record['title']))}</title>"
        f"<categories>{escape(' '.join(record['categories']))}</categories>"
        "<license>http://creativecommons.org/licenses/by/4.0/</license>"
        f"<abstract>  {escape(wrap(record['abstract']))}\n</abstract>"
        "</arXiv></metadata></record>"
    )


def _error(code: str, message: str, query: dict) -> str:
    attributes = "".join(f' {k}="{escape(v)}"' for k, v in query.items())
    return (
        f"{_HEAD}<request{attributes}>http://127.0.0.1/oai</request>\n"
        f'<error code="{code}">{escape(message)}</error>\n</OAI-PMH>\n'
    )


class FakeOai(LocalHTTPServer):
    def __init__(self, records: list[dict], page_size: int = 3) -> None:
        self.records = list(records)
        self.page_size = page_size
        self.faults: deque = deque()
        self.requests: list[tuple[float, dict]] = []
        """(time.monotonic() on arrival, query) of every request."""
        self._generation = 0
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return self.origin + "/oai"

    def _respond(self, query: dict) -> tuple[int, str, dict]:
        with self._lock:
            self.requests.append((time.monotonic(), query))
            fault = self.faults.popleft() if self.faults else None
            if fault == "expire":
                self._generation += 1
            generation = self._generation
        if isinstance(fault, tuple) and fault[0] == "retry_after":
            return 503, "busy", {"Retry-After": str(fault[1])}
        if isinstance(fault, int):
            return fault, "injected", {}
        body = self._list_records(query, generation)
        return 200, body[: len(body) // 2] if fault == "malformed" else body, {}

    def _list_records(self, query: dict, generation: int) -> str:
        if query.get("verb") != "ListRecords":
            return _error("badVerb", "only ListRecords here", query)
        if "resumptionToken" in query:
            token_generation, oai_set, since, offset = query["resumptionToken"].split("|")
            if int(token_generation) != generation:
                return _error(
                    "badResumptionToken", "The value of the resumptionToken argument is invalid or expired.", query
                )
            offset = int(offset)
        else:
            if query.get("metadataPrefix") != "arXiv":
                return _error("cannotDisseminateFormat", f"unknown format {query.get('metadataPrefix')}", query)
            oai_set, since, offset = query.get("set", ""), query.get("from", ""), 0
        matching = [
            r
            for r in self.records
            if (not oai_set or oai_set in set_specs(r["categories"])) and r["datestamp"] >= since
        ]
        if not matching:
            return _error(
                "noRecordsMatch", "The combination of the values of the arguments results in an empty list.", query
            )
        page = matching[offset : offset + self.page_size]
        following = offset + self.page_size
        token = f"{generation}|{oai_set}|{since}|{following}" if following < len(matching) else ""
        return (
            f'{_HEAD}<request verb="ListRecords">http://127.0.0.1/oai</request>\n<ListRecords>\n'
            + "\n".join(_record_xml(r) for r in page)
            + f'\n<resumptionToken cursor="{offset}" completeListSize="{len(matching)}">'
            f"{escape(token)}</resumptionToken>\n"
            "</ListRecords>\n</OAI-PMH>\n"
        )

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parsed = urllib.parse.urlsplit(self.path)
                if parsed.path != "/oai":
                    reply(self, 404, b"not found", "text/plain")
                    return
                status, body, headers = server._respond(dict(urllib.parse.parse_qsl(parsed.query)))
                reply(self, status, body.encode("utf-8"), "text/xml; charset=utf-8", headers)

            def log_message(self, *args) -> None:
                pass

        return Handler
