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
