"""OpenAI (or compatible) embeddings through the official client.

Every input is cut at the model's token limit (counted with tiktoken), inputs are packed into
requests under the API's per-request limits, requests run on a bounded thread pool, and the
client's own retries (exponential backoff on 429, 5xx, timeouts and connection errors) are real
retries. A response whose vectors are not finite, not of the expected width, or not parseable is
retried a few times and then reported as failed: the pipeline records failed texts in
``embedding_failures`` and retries them on the next run. Nothing is ever stored as zeros.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import openai

from data.embed import MODEL_WIDTHS, EmbedderUnavailable, InputCheck, PartialEmbeddingFailure
from data.embeddings import ModelInfo
from data.tokens import encoding_for_model, truncate_to_tokens


@dataclass(frozen=True)
class OpenAIEmbeddingSettings:
    """How the openai backend talks to the API."""

    model: str = "text-embedding-3-small"
    """Embedding model as the API names it."""
    base_url: str | None = None
    """API root, e.g. ``http://127.0.0.1:8000/v1`` for a compatible server
    (default: env OPENAI_BASE_URL, else OpenAI)."""
    api_key: str | None = None
    """API key (default: env OPENAI_API_KEY)."""
    dimensions: int | None = None
    """Shorter output vectors (text-embedding-3 only); None keeps the model's full width."""
    max_concurrency: int = 4
    """Requests in flight at once."""
    max_retries: int = 5
    """Retries of the openai client (exponential backoff) on 429, 5xx, timeouts and connection errors."""
    invalid_response_retries: int = 2
    """Extra attempts when a response is malformed or holds NaN/inf or wrong-width vectors."""
    timeout_s: float = 60.0
    """Per-request timeout."""
    max_input_tokens: int = 8191
    """Each input is truncated to this many tokens (the models' limit)."""
    max_request_inputs: int = 2048
    """API limit: inputs per request."""
    max_request_tokens: int = 300_000
    """API limit: tokens summed over the inputs of one request."""
    batch_size: int = 2048
    """Texts the pipeline hands over per call (a failure is recorded per request, not per call)."""


class InvalidEmbeddingResponse(RuntimeError):
    """The server answered, but not with one finite vector of the expected width per input."""


class OpenAIEmbedder:
    def __init__(self, model: str = "text-embedding-3-small", **options) -> None:
        self.settings = OpenAIEmbeddingSettings(model=model, **options)
        # The cache key: shortened vectors (`dimensions`) are a different embedding from full ones.
        self.model = f"{model}@{self.settings.dimensions}" if self.settings.dimensions else model
        self.batch_size = self.settings.batch_size
        api_key = self.settings.api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise EmbedderUnavailable(
                "the openai embedding backend needs an API key: set OPENAI_API_KEY (and OPENAI_BASE_URL for a "
                "compatible server), or use embed_backend: local in conf/corpus/<name>.yaml"
            )
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=self.settings.base_url or os.environ.get("OPENAI_BASE_URL") or None,
            max_retries=self.settings.max_retries,
            timeout=self.settings.timeout_s,
        )
        self._encoding = encoding_for_model(model)
        self.expected_width = self.settings.dimensions or MODEL_WIDTHS.get(model)
        self.info = (
            None
            if self.expected_width is None
            else ModelInfo(
                model=self.model,
                backend="openai",
                source=self._client.base_url.host,
                dim=self.expected_width,
                max_seq_length=self.settings.max_input_tokens,
                normalized=True,
            )
        )
        self.tokens_sent = 0
        self._usage_lock = threading.Lock()

    def pack(self, texts: list[str]) -> list[tuple[list[int], list[str]]]:
        """Truncate every text and group them, in order, into requests under the per-request limits."""
        limits = self.settings
        requests: list[tuple[list[int], list[str]]] = []
        indices: list[int] = []
        inputs: list[str] = []
        tokens_in_request = 0
        for index, text in enumerate(texts):
            cut, n_tokens = truncate_to_tokens(self._encoding, text, limits.max_input_tokens)
            if inputs and (
                len(inputs) >= limits.max_request_inputs or tokens_in_request + n_tokens > limits.max_request_tokens
            ):
                requests.append((indices, inputs))
                indices, inputs, tokens_in_request = [], [], 0
            indices.append(index)
            inputs.append(cut or " ")  # the API rejects empty strings
            tokens_in_request += n_tokens
        if inputs:
            requests.append((indices, inputs))
        return requests

    def check_inputs(self, texts: list[str]) -> InputCheck:
        """Texts beyond ``max_input_tokens`` (cut); byte-level BPE has no unknown tokens."""
        lengths = np.array([len(self._encoding.encode(t, disallowed_special=())) for t in texts], dtype=np.int64)
        return InputCheck(lengths > self.settings.max_input_tokens, np.zeros(len(texts), dtype=bool))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors in input order; raises ``PartialEmbeddingFailure`` if a request failed."""
        if not texts:
            return np.zeros((0, self.expected_width or 0), dtype=np.float32)
        requests = self.pack(texts)
        with ThreadPoolExecutor(max_workers=self.settings.max_concurrency) as pool:
            outcomes = list(pool.map(self._request_safely, [inputs for _, inputs in requests]))
        widths = {o.shape[1] for o in outcomes if isinstance(o, np.ndarray)}
        if len(widths) > 1:  # a server that changed widths mid-run: trust none of it
            raise InvalidEmbeddingResponse(f"{self.model}: responses of different widths {sorted(widths)}")
        width = widths.pop() if widths else (self.expected_width or 1)
        vectors = np.full((len(texts), width), np.nan, dtype=np.float32)
        ok = np.zeros(len(texts), dtype=bool)
        errors: list[str] = []
        for (indices, _), outcome in zip(requests, outcomes, strict=False):
            if isinstance(outcome, Exception):
                errors.append(f"{type(outcome).__name__}: {outcome}")
                continue
            vectors[indices] = outcome
            ok[indices] = True
        if not ok.all():
            raise PartialEmbeddingFailure(
                vectors, ok, f"{len(errors)} of {len(requests)} requests failed; first: {errors[0]}"
            )
        return vectors

    def _request_safely(self, inputs: list[str]) -> np.ndarray | Exception:
        attempts = 1 + self.settings.invalid_response_retries
        for _ in range(attempts):
            try:
                return self._request(inputs)
            except InvalidEmbeddingResponse as error:
                last: Exception = error
            except openai.APIResponseValidationError as error:
                last = InvalidEmbeddingResponse(f"{self.model}: malformed response ({error})")
            except openai.OpenAIError as error:  # the client already retried what is worth retrying
                return error
            except ValueError as error:  # e.g. a body that is not JSON
                last = InvalidEmbeddingResponse(f"{self.model}: malformed response ({error})")
        return last

    def _request(self, inputs: list[str]) -> np.ndarray:
        dimensions = self.settings.dimensions or openai.omit
        response = self._client.embeddings.create(
            model=self.settings.model, input=inputs, encoding_format="float", dimensions=dimensions
        )
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(inputs):
            raise InvalidEmbeddingResponse(f"{self.model}: {len(data)} vectors for {len(inputs)} inputs")
        widths = {len(item.embedding) for item in data}
        expected = self.expected_width
        if len(widths) != 1 or (expected is not None and widths != {expected}):
            raise InvalidEmbeddingResponse(
                f"{self.model}: vectors of width {sorted(widths)}, expected {expected or 'one common width'}"
            )
        matrix = np.asarray([item.embedding for item in data], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1)
        if not np.isfinite(matrix).all() or not (norms > 0).all():
            raise InvalidEmbeddingResponse(f"{self.model}: response holds NaN/inf or all-zero vectors")
        if response.usage is not None:
            with self._usage_lock:
                self.tokens_sent += response.usage.prompt_tokens
        return matrix / norms[:, None]
