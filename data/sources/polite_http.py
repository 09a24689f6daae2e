"""Polite GETs with retries, for the crawlers of public endpoints (the arXiv API, OAI-PMH).

``PoliteClient.fetch`` pauses so that calls are at least ``delay_s`` apart, retries transient
failures (5xx, 429, timeouts, connection errors, and whatever the caller's ``parse`` raises as
``Transient``, e.g. an unparseable page) with exponential backoff, and waits out a ``503`` with a
``Retry-After`` header when the endpoint uses it for flow control (such waits are not failures).
When the retries are spent it raises the caller's error class, naming the endpoint and the URL
and saying that the pages before are stored (every crawler commits page by page and resumes).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Transient(Exception):
    """A failure worth retrying."""


class _FlowControl(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"503 Retry-After {seconds:.0f} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Politeness:
    """How one endpoint is asked: its name in messages, pauses, retries and the error to give up with."""

    name: str
    """The endpoint in messages and logs, e.g. ``arXiv API``."""
    error: type[Exception]
    """Raised when the retries are spent or the endpoint refuses the request (4xx)."""
    delay_s: float
    max_retries: int
    backoff_s: float
    timeout_s: float
    max_retry_after_s: float | None = None
    """Honour ``503 Retry-After`` up to this long (None: a 503 is a failure like any 5xx)."""
    max_flow_control_waits: int = 0
    give_up_hint: str = ""
    """Appended to the message when the retries are spent."""


class PoliteClient:
    """GETs at most once per ``delay_s``; waits out ``503 Retry-After``; retries transient failures."""

    def __init__(self, politeness: Politeness) -> None:
        self.politeness = politeness
        self._last_call = float("-inf")

    def fetch(self, url: str, parse: Callable[[str], T]) -> T:
        """``parse(body)`` of the first answer that parses; ``parse`` raises ``Transient`` to ask again."""
        p = self.politeness
        delay, failures, waits = p.backoff_s, 0, 0
        while True:
            try:
                return parse(self._get(url))
            except Transient as error:
                failures += 1
                if failures > p.max_retries:
                    raise p.error(
                        f"{p.name} failed {failures} times at {url} ({error}); the pages before it are stored "
                        f"and a re-run continues from here{p.give_up_hint}"
                    ) from error
                logger.warning("%s: %s; retry %d of %d in %.0f s", p.name, error, failures, p.max_retries, delay)
                time.sleep(delay)
                delay *= 2
            except _FlowControl as wait:
                waits += 1
                if waits > p.max_flow_control_waits:
                    raise p.error(
                        f"{p.name} kept answering 503 Retry-After at {url}; re-run later, it resumes from here"
                    ) from wait
                logger.info("%s flow control: retrying after %.0f s", p.name, wait.seconds)
                time.sleep(wait.seconds)

    def _get(self, url: str) -> str:
        p = self.politeness
        wait = self._last_call + p.delay_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_call = time.monotonic()
        request = urllib.request.Request(url, headers={"User-Agent": f"sae-atlas ({p.name} client)"})
        try:
            with urllib.request.urlopen(request, timeout=p.timeout_s) as response:
                return response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            if error.code == 503 and p.max_retry_after_s is not None:
                retry_after = retry_after_s(error.headers.get("Retry-After"))
                if retry_after is not None and retry_after <= p.max_retry_after_s:
                    raise _FlowControl(retry_after) from error
            if error.code >= 500 or error.code == 429:
                raise Transient(f"HTTP {error.code}") from error
            raise p.error(f"{p.name} answered HTTP {error.code} for {url}: {error.reason}") from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise Transient(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from error


def retry_after_s(value: str | None) -> float | None:
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
