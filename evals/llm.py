"""The one LLM client of SAE Atlas: the official ``openai`` client behind a persistent cache.

- Bounded concurrency with a thread pool; the ``openai`` client's own retries (exponential
  backoff with jitter) on 429, 5xx, timeouts and dropped connections.
- A response cache in the warehouse's ``llm_cache`` table keyed by a hash of (model, messages,
  parameters). DuckDB allows one writer process, so worker threads never touch the database:
  the calling thread looks keys up before the calls and writes new rows in short batches.
- Token and estimated-cost totals across every call of a client.

Without ``OPENAI_API_KEY`` the product runs its offline path; ``llm_available()`` says which.

Over 300 lines as one module on purpose: the client, its cache and its usage accounting share one
thread discipline (workers call, the calling thread reads and writes the cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import duckdb
import openai
import pyarrow as pa
from jsonargparse import ArgumentParser
from openai.types.chat import ChatCompletionMessageParam

from data.warehouse import transaction

Message = dict[str, str]
ConnectionFactory = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

# USD per 1k tokens (prompt, completion), list prices when written; override in LLMSettings.
KNOWN_PRICES_PER_1K: dict[str, tuple[float, float]] = {
    "gpt-4o": (0.0025, 0.010),
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4.1": (0.002, 0.008),
    "gpt-4.1-mini": (0.0004, 0.0016),
}


LOCAL_SERVER_KEY = "local-server"
"""Sent as the API key to an endpoint given without one (Ollama, llama.cpp and vLLM ignore it)."""


def llm_available(base_url: str | None = None) -> bool:
    """True when the LLM path can run: an API key is set, or an OpenAI-compatible endpoint is named."""
    return bool(os.environ.get("OPENAI_API_KEY") or base_url)


LlmMode = Literal["auto", "yes", "no"]
"""A command's ``--llm``: ``auto`` = the LLM path when ``OPENAI_API_KEY`` is set, else offline."""


def add_llm_arguments(parser: ArgumentParser) -> None:
    """``--llm`` and ``--llm-base-url``, the same for every command that may call an LLM."""
    parser.add_argument(
        "--llm",
        type=LlmMode,
        default="auto",
        help="use an LLM: auto = when OPENAI_API_KEY is set; yes; no (the offline path)",
    )
    parser.add_argument(
        "--llm-base-url",
        type=str | None,
        default=None,
        help="OpenAI-compatible endpoint (default OPENAI_BASE_URL, else api.openai.com); models: conf/interp.yaml",
    )


def use_llm(mode: LlmMode, base_url: str | None = None) -> bool:
    """Whether ``--llm mode`` means the LLM path;
    ``yes`` without a key or an endpoint is an error saying what to set."""
    if mode == "yes" and not llm_available(base_url):
        raise ValueError(
            "--llm yes needs OPENAI_API_KEY, or a local OpenAI-compatible server named by --llm-base-url "
            "(or llm_path.base_url in conf/interp.yaml)"
        )
    return mode == "yes" or (mode == "auto" and llm_available(base_url))


@dataclass
class LLMSettings:
    """How to reach one chat model and what a call may cost."""

    model: str = "gpt-4o-mini"
    """Chat model name; part of the cache key."""
    base_url: str | None = None
    """OpenAI-compatible endpoint; default: ``OPENAI_BASE_URL`` or api.openai.com."""
    api_key: str | None = None
    """Default: ``OPENAI_API_KEY``."""
    max_concurrency: int = 8
    """Requests in flight at once (threads)."""
    timeout_s: float = 60.0
    """Per-request timeout; a timed-out request is retried."""
    max_retries: int = 5
    """Retries per request on 429 / 5xx / timeouts (the openai client's exponential backoff)."""
    temperature: float = 0.0
    max_tokens: int = 600
    price_prompt_per_1k: float | None = None
    """USD per 1k prompt tokens; default from ``KNOWN_PRICES_PER_1K`` (0 if the model is unknown)."""
    price_completion_per_1k: float | None = None
    """USD per 1k completion tokens; default as above."""

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"LLMSettings.max_concurrency must be >= 1, got {self.max_concurrency}")
        known = KNOWN_PRICES_PER_1K.get(self.model, (0.0, 0.0))
        if self.price_prompt_per_1k is None:
            self.price_prompt_per_1k = known[0]
        if self.price_completion_per_1k is None:
            self.price_completion_per_1k = known[1]


@dataclass(frozen=True)
class LLMResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool


@dataclass
class Usage:
    """Running totals of one client (thread-safe updates via ``add``)."""

    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, result: LLMResult | None) -> None:
        with self._lock:
            if result is None:
                self.failures += 1
            elif result.cached:
                self.cache_hits += 1
            else:
                self.calls += 1
                self.prompt_tokens += result.prompt_tokens
                self.completion_tokens += result.completion_tokens


def cache_key(model: str, messages: Sequence[Message], params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of (model, messages, parameters)."""
    payload = json.dumps({"model": model, "messages": list(messages), "params": params}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class LLMClient:
    """Chat completions with bounded concurrency, retries, a DuckDB cache and usage totals.

    ``warehouse_con_factory`` opens a short-lived writer connection (e.g.
    ``lambda: open_writer(path)``); ``None`` disables the persistent cache.
    """

    def __init__(
        self, settings: LLMSettings, warehouse_con_factory: ConnectionFactory | None = None, flush_every: int = 50
    ) -> None:
        base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = (
            settings.api_key or os.environ.get("OPENAI_API_KEY") or (LOCAL_SERVER_KEY if settings.base_url else None)
        )
        if not api_key:
            raise ValueError(
                "no API key: set OPENAI_API_KEY (or LLMSettings.api_key), name a local server's base URL, "
                "or use the offline path"
            )
        self.settings = settings
        self.usage = Usage()
        self._connect = warehouse_con_factory
        self._flush_every = flush_every
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    @property
    def estimated_cost_usd(self) -> float:
        s = self.settings
        assert s.price_prompt_per_1k is not None and s.price_completion_per_1k is not None  # set by __post_init__
        return (
            self.usage.prompt_tokens * s.price_prompt_per_1k + self.usage.completion_tokens * s.price_completion_per_1k
        ) / 1000

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        params = {"temperature": self.settings.temperature, "max_tokens": self.settings.max_tokens}
        params.update(overrides)
        return params

    def complete(self, messages: Sequence[Message], cache_tag: str = "", **params: Any) -> LLMResult:
        """One chat completion (cached); raises the openai error once retries are spent."""
        result = self.complete_many([messages], cache_tag=cache_tag, **params)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def complete_many(
        self, many: Sequence[Sequence[Message]], cache_tag: str | Sequence[str] = "", **params: Any
    ) -> list[LLMResult | Exception]:
        """Completions in input order; a request that failed after its retries yields its exception.

        ``cache_tag`` (one for all, or one per request) joins the cache key without being sent:
        a new tag asks again instead of reusing a cached answer that proved unusable.
        """
        params = self._params(params)
        tags = [cache_tag] * len(many) if isinstance(cache_tag, str) else list(cache_tag)
        keys = [
            cache_key(self.settings.model, messages, {**params, "_tag": tag} if tag else params)
            for messages, tag in zip(many, tags, strict=False)
        ]
        results: dict[str, LLMResult | Exception] = self._cached(set(keys))
        for key in keys:
            if key in results:
                self.usage.add(results[key])  # type: ignore[arg-type]
        missing = {key: messages for key, messages in zip(keys, many, strict=False) if key not in results}
        if missing:
            results.update(self._call_all(missing, params))
        return [results[key] for key in keys]

    def _call_all(
        self, requests: dict[str, Sequence[Message]], params: dict[str, Any]
    ) -> dict[str, LLMResult | Exception]:
        done: dict[str, LLMResult | Exception] = {}
        pending_rows: list[dict[str, Any]] = []
        last_flush = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.settings.max_concurrency) as pool:
            futures = {pool.submit(self._call, messages, params): key for key, messages in requests.items()}
            waiting = set(futures)
            while waiting:
                finished, waiting = wait(waiting, timeout=5.0, return_when=FIRST_COMPLETED)
                for future in finished:
                    key = futures[future]
                    try:
                        result = future.result()
                    except openai.OpenAIError as error:
                        self.usage.add(None)
                        done[key] = error
                        continue
                    self.usage.add(result)
                    done[key] = result
                    pending_rows.append(self._cache_row(key, requests[key], params, result))
                # Written from this (the calling) thread, in short transactions.
                if pending_rows and (
                    len(pending_rows) >= self._flush_every or time.monotonic() - last_flush > 10 or not waiting
                ):
                    self._store(pending_rows)
                    pending_rows, last_flush = [], time.monotonic()
        return done

    def _call(self, messages: Sequence[Message], params: dict[str, Any]) -> LLMResult:
        response = self._client.chat.completions.create(
            model=self.settings.model, messages=cast(list[ChatCompletionMessageParam], list(messages)), **params
        )
        usage = response.usage
        return LLMResult(
            text=response.choices[0].message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cached=False,
        )

    def _cache_row(
        self, key: str, messages: Sequence[Message], params: dict[str, Any], result: LLMResult
    ) -> dict[str, Any]:
        return {
            "cache_key": key,
            "model": self.settings.model,
            "request": json.dumps({"messages": list(messages), "params": params}),
            "response": result.text,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
        }

    def _cached(self, keys: set[str]) -> dict[str, LLMResult | Exception]:
        if self._connect is None or not keys:
            return {}
        with self._connect() as con:
            con.register("_wanted_keys", pa.table({"cache_key": pa.array(sorted(keys), pa.string())}))
            try:
                rows = con.execute(
                    "SELECT c.cache_key, c.response, c.prompt_tokens, c.completion_tokens "
                    "FROM llm_cache c SEMI JOIN _wanted_keys w ON w.cache_key = c.cache_key"
                ).fetchall()
            finally:
                con.unregister("_wanted_keys")
        return {
            key: LLMResult(text, prompt or 0, completion or 0, cached=True) for key, text, prompt, completion in rows
        }

    def _store(self, rows: list[dict[str, Any]]) -> None:
        if self._connect is None:
            return
        table = pa.Table.from_pylist(rows)
        with self._connect() as con, transaction(con):
            con.register("_new_cache", table)
            try:
                con.execute(
                    "INSERT INTO llm_cache SELECT cache_key, model, request, response, prompt_tokens, "
                    "completion_tokens, now() FROM _new_cache ON CONFLICT (cache_key) DO NOTHING"
                )
            finally:
                con.unregister("_new_cache")


def usage_rows(clients: dict[str, LLMClient]) -> Iterator[tuple[str, str, int, int, int, int, int, float]]:
    """(role, model, calls, cache hits, failures, prompt tokens, completion tokens, est. USD) per client."""
    for role, client in clients.items():
        u = client.usage
        yield (
            role,
            client.settings.model,
            u.calls,
            u.cache_hits,
            u.failures,
            u.prompt_tokens,
            u.completion_tokens,
            client.estimated_cost_usd,
        )
