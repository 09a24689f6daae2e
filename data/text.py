"""The exact text that gets embedded, and its content hash (the embedding cache key)."""

from __future__ import annotations

import hashlib
import re

_WHITESPACE = re.compile(r"\s+")


def collapse_whitespace(value: str) -> str:
    return _WHITESPACE.sub(" ", value).strip()


def embedding_text(title: str, abstract: str) -> str:
    """``title + "\\n\\n" + abstract`` with every whitespace run collapsed to one space.

    This matches the shared MiniLM embeddings byte for byte, so imported vectors hit the cache.
    """
    return collapse_whitespace(f"{title}\n\n{abstract}")


def text_hash(text: str) -> str:
    """A short, stable content hash: 16 bytes of SHA-256, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
