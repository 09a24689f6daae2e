"""Embedding backends behind one small interface, and the factory that picks one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

# Output widths of the models we know, to catch vectors imported under the wrong model name.
MODEL_WIDTHS = {
    "all-MiniLM-L6-v2": 384,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class Embedder(Protocol):
    model: str
    """The model name; stored vectors are cached under it."""
    batch_size: int
    """Texts per ``embed`` call: the pipeline's unit of progress, storage and failure."""

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text, in input order."""
        ...


class EmbedderUnavailable(ValueError):
    """This machine cannot run the embedding model asked for (a model the backend lacks, no API key)."""


@dataclass(frozen=True)
class InputCheck:
    """Which texts of a batch the model cannot take as they are (one flag per text).

    Embedders that know their tokenizer offer ``check_inputs(texts) -> InputCheck``; the pipeline counts
    the flags in the ingest table, so no text is changed without a word.
    """

    cut: np.ndarray
    """Longer than the model's input window: embedded from their beginning only."""
    mostly_unknown: np.ndarray
    """More than half of the tokens are unknown to the model's vocabulary (e.g. Chinese for an English model)."""


MOSTLY_UNKNOWN = 0.5
"""Share of unknown tokens above which a text's vector says little about it."""


class PartialEmbeddingFailure(RuntimeError):
    """Some texts of an ``embed`` call failed (after retries); the others have valid vectors.

    ``vectors`` holds a row per input text, valid where ``ok`` is True (NaN elsewhere).
    """

    def __init__(self, vectors: np.ndarray, ok: np.ndarray, message: str) -> None:
        super().__init__(message)
        self.vectors = vectors
        self.ok = ok


def make_embedder(backend: str, model: str, **options) -> Embedder:
    if backend == "local":
        from data.embed.local import LocalEmbedder

        return LocalEmbedder(model=model, **options)
    if backend == "openai":
        from data.embed.openai_backend import OpenAIEmbedder

        return OpenAIEmbedder(model=model, **options)
    raise EmbedderUnavailable(f"unknown embedding backend {backend!r}: use 'local' or 'openai'")
