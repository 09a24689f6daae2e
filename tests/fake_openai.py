"""A small OpenAI-compatible HTTP server on 127.0.0.1 for tests: real sockets, real JSON.

Serves ``POST /v1/embeddings`` (deterministic vectors from a hash of each input) and
``POST /v1/chat/completions`` (answers from a test-provided function). Faults are injected from
a queue: the next request to an endpoint takes the next fault, if any.

    with FakeOpenAI() as server:
        server.faults["embeddings"] += [Fault.status(429), Fault.timeout(2.0), Fault.malformed()]
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import numpy as np

from tests.local_http import LocalHTTPServer, reply


@dataclass(frozen=True)
class Fault:
    kind: str  # "status" | "timeout" | "malformed" | "nan" | "wrong_width" | "zeros" | "missing_rows"
    status: int = 500
    seconds: float = 0.0

    @staticmethod
    def status_code(code: int) -> Fault:
        return Fault("status", status=code)

    @staticmethod
    def timeout(seconds: float) -> Fault:
        return Fault("timeout", seconds=seconds)

    @staticmethod
    def malformed() -> Fault:
        return Fault("malformed")


def fake_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text`` (same text, same vector)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim)
    return (vector / np.linalg.norm(vector)).tolist()


def _default_chat(request: dict) -> str:
    return "FINAL: test label"


class FakeOpenAI(LocalHTTPServer):
    def __init__(self, dim: int = 64, chat: Callable[[dict], str] = _default_chat) -> None:
        self.dim = dim
        self.chat = chat
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.requests: dict[str, list[dict]] = defaultdict(list)
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests the server was answering at once (to check bounded concurrency)."""
        self.delay_s = 0.0
        """Seconds every request takes, so concurrent requests overlap measurably."""
        self._lock = threading.Lock()
        super().__init__()

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    def _next_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            queue = self.faults[endpoint]
            return queue.popleft() if queue else None

    def _respond(self, endpoint: str, body: dict) -> tuple[int, bytes]:
        with self._lock:
            self.requests[endpoint].append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            return self._answer(endpoint, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, endpoint: str, body: dict) -> tuple[int, bytes]:
        fault = self._next_fault(endpoint)
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            return fault.status, json.dumps({"error": {"message": f"injected {fault.status}", "type": "test"}}).encode()
        if fault is not None and fault.kind == "malformed":
            return 200, b'{"object": "list", "data": [ this is not json'
        if endpoint == "embeddings":
            return 200, json.dumps(self._embeddings(body, fault)).encode()
        return 200, json.dumps(self._chat(body)).encode()

    def _embeddings(self, body: dict, fault: Fault | None) -> dict:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dim = int(body.get("dimensions") or self.dim)
        data = []
        for index, text in enumerate(inputs):
            vector = fake_vector(str(text), dim)
            if fault is not None and fault.kind == "nan":
                vector[0] = float("nan")
            if fault is not None and fault.kind == "wrong_width":
                vector = vector[:-1]
            if fault is not None and fault.kind == "zeros":
                vector = [0.0] * dim
            data.append({"object": "embedding", "index": index, "embedding": vector})
        if fault is not None and fault.kind == "missing_rows":
            data = data[:-1]
        tokens = sum(len(str(t).split()) for t in inputs)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _chat(self, body: dict) -> dict:
        content = self.chat(body)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(content.split()),
                "total_tokens": prompt_tokens + len(content.split()),
            },
        }

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                endpoint = {"/v1/embeddings": "embeddings", "/v1/chat/completions": "chat"}.get(self.path)
                if endpoint is None:
                    status, payload = 404, b'{"error": {"message": "not found"}}'
                else:
                    status, payload = server._respond(endpoint, body)
                reply(self, status, payload, "application/json")

            def log_message(self, *args) -> None:
                pass

        return Handler
