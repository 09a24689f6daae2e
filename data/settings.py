"""Where generated files live and which corpus configuration to use.

One env var moves every generated artifact (warehouses, checkpoints, caches): ``SAE_ATLAS_ARTIFACTS``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"


def artifacts_dir() -> Path:
    """The git-ignored folder for every generated file (default ``./artifacts``)."""
    path = Path(os.environ.get("SAE_ATLAS_ARTIFACTS", REPO_ROOT / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def corpus_dir() -> Path:
    """Where corpus configs live and where `just data <new name> --csv ...` writes one
    (``SAE_ATLAS_CORPUS_DIR``, default ``conf/corpus``)."""
    return Path(os.environ.get("SAE_ATLAS_CORPUS_DIR", CONF_DIR / "corpus"))


def warehouse_path(corpus: str) -> Path:
    """One DuckDB file per corpus, e.g. ``artifacts/astro.duckdb``."""
    return artifacts_dir() / f"{corpus}.duckdb"


def local_data_dir() -> Path | None:
    """A folder of local input files (``SAE_ATLAS_DATA_DIR``) used when arXiv is unreachable.

    It may hold ``arxiv_abstracts.jsonl.gz`` (listing JSONL) and ``minilm_l6_v2.parquet``
    (precomputed embeddings); see the README.
    """
    value = os.environ.get("SAE_ATLAS_DATA_DIR")
    return Path(value) if value else None


WRITER_WAIT_S = 300.0


def writer_wait_s() -> float:
    """How long a writer waits for other processes to close the warehouse (``SAE_ATLAS_WRITER_WAIT_S``, seconds).

    Long: a training run of many minutes should wait out a `just sql` shell rather than fail at its final write.
    """
    value = os.environ.get("SAE_ATLAS_WRITER_WAIT_S")
    if not value:
        return WRITER_WAIT_S
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"SAE_ATLAS_WRITER_WAIT_S={value!r} is not a number of seconds; e.g. 300") from None
    if seconds < 0:
        raise ValueError(f"SAE_ATLAS_WRITER_WAIT_S={value!r} must be >= 0 seconds")
    return seconds
