"""The LLM client against the fake OpenAI server: retries, timeouts, cache, concurrency, usage."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from data.warehouse import open_reader, open_writer
from evals.llm import LLMClient, LLMSettings, cache_key, llm_available
from tests.fake_openai import Fault


def echo_chat(request: dict) -> str:
    return "echo: " + request["messages"][-1]["content"]


def make_client(server, path=None, **overrides) -> LLMClient:
    options = {"max_concurrency": 4, "timeout_s": 5.0, "max_retries": 3, **overrides}
    settings = LLMSettings(model="gpt-4o-mini", base_url=server.base_url, api_key="test", **options)
    return LLMClient(settings, (lambda: open_writer(path)) if path else None)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_retries_429_500_and_timeouts_then_succeeds(fake_openai, tmp_path):
    fake_openai.chat = echo_chat
    fake_openai.faults["chat"] += [Fault.status_code(429), Fault.status_code(500), Fault.timeout(1.5)]
    client = make_client(fake_openai, timeout_s=0.5)
    result = client.complete(ask("hello"))
    assert result.text == "echo: hello" and not result.cached
    assert len(fake_openai.requests["chat"]) == 4  # three faults, then the answer
    assert client.usage.calls == 1 and client.usage.prompt_tokens == 1 and client.usage.completion_tokens == 2


def test_gives_up_after_max_retries_and_reports_the_error(fake_openai):
    fake_openai.faults["chat"] += [Fault.status_code(500)] * 4
    client = make_client(fake_openai, max_retries=1)
    results = client.complete_many([ask("a")])
    assert isinstance(results[0], openai.InternalServerError)
    assert client.usage.failures == 1 and len(fake_openai.requests["chat"]) == 2
    with pytest.raises(openai.InternalServerError):
        client.complete(ask("b"))
    assert client.complete(ask("c")).text == "FINAL: test label"  # the faults are spent


def test_persistent_cache_survives_a_new_client_and_keys_on_params(fake_openai, tmp_path):
    path = tmp_path / "w.duckdb"
    fake_openai.chat = echo_chat
    first = make_client(fake_openai, path)
    answers = first.complete_many([ask(f"q{i}") for i in range(6)] + [ask("q0")])
    assert [a.text for a in answers] == [f"echo: q{i}" for i in range(6)] + ["echo: q0"]
    assert len(fake_openai.requests["chat"]) == 6  # the duplicate request is sent once

    second = make_client(fake_openai, path)
    again = second.complete_many([ask(f"q{i}") for i in range(6)])
    assert all(a.cached for a in again) and [a.text for a in again] == [f"echo: q{i}" for i in range(6)]
    assert len(fake_openai.requests["chat"]) == 6 and second.usage.cache_hits == 6 and second.usage.calls == 0

    hotter = second.complete(ask("q0"), temperature=0.7)  # other parameters: another key
    assert not hotter.cached and len(fake_openai.requests["chat"]) == 7
    with open_reader(path) as con:
        rows = con.execute("SELECT count(*), count(DISTINCT cache_key) FROM llm_cache").fetchall()[0]
    assert rows == (7, 7)
    assert cache_key("m", ask("x"), {"t": 0}) != cache_key("m", ask("x"), {"t": 1})


def test_failed_requests_are_not_cached(fake_openai, tmp_path):
    path = tmp_path / "w.duckdb"
    fake_openai.faults["chat"] += [Fault.status_code(400)]  # not retried by the client
    client = make_client(fake_openai, path)
    assert isinstance(client.complete_many([ask("x")])[0], openai.BadRequestError)
    with open_reader(path) as con:
        assert con.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0] == 0
    assert client.complete(ask("x")).text == "FINAL: test label"


def test_concurrency_is_bounded(fake_openai):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow_chat(request: dict) -> str:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.15)
        with lock:
            in_flight[0] -= 1
        return "ok"

    fake_openai.chat = slow_chat
    client = make_client(fake_openai, max_concurrency=3)
    started = time.monotonic()
    results = client.complete_many([ask(str(i)) for i in range(9)])
    assert all(r.text == "ok" for r in results)
    assert peak[0] == 3
    assert time.monotonic() - started < 9 * 0.15  # parallel, not serial


def test_cost_estimate_and_key_detection(fake_openai, monkeypatch):
    client = make_client(fake_openai, price_prompt_per_1k=1.0, price_completion_per_1k=2.0)
    client.complete(ask("one two three"))  # 3 prompt tokens, 3 completion tokens ("FINAL: test label")
    assert client.estimated_cost_usd == pytest.approx((3 * 1.0 + 3 * 2.0) / 1000)
    assert LLMSettings(model="gpt-4o").price_prompt_per_1k == 0.0025
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert not llm_available()
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        LLMClient(LLMSettings(), None)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert llm_available()
