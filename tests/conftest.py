"""Shared fixtures: the real shared arXiv data, a warehouse built from it, a fake OpenAI server."""

from __future__ import annotations

import gzip
import json
import os

# Before torch loads OpenMP: spinning workers stall every small op on a shared, oversubscribed CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from data.corpus import IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.embeddings import import_vectors_by_arxiv_id
from data.sources import BadInput
from data.sources.jsonl import read_jsonl
from data.sources.precomputed import read_parquet_vectors
from data.warehouse import open_writer
from tests.fake_openai import FakeOpenAI

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The read-only shared data (``SAE_ATLAS_SHARED_DATA``, default ``../shared/data``)."""
    path = Path(os.environ.get("SAE_ATLAS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not (path / "arxiv_abstracts.jsonl.gz").exists():
        pytest.fail(
            f"shared data not found at {path}; set SAE_ATLAS_SHARED_DATA to the folder holding arxiv_abstracts.jsonl.gz"
        )
    return path


@pytest.fixture(scope="session")
def shared_sample(shared_data_dir) -> list[dict]:
    """Every 100th record of the shared listing JSONL (227 real abstracts, astro-ph and cs.LG mixed)."""
    with gzip.open(shared_data_dir / "arxiv_abstracts.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [json.loads(line) for number, line in enumerate(lines) if number % 100 == 0]


@pytest.fixture(autouse=True)
def _isolated_artifacts(tmp_path, monkeypatch):
    """Tests never write into the developer's artifacts folder."""
    monkeypatch.setenv("SAE_ATLAS_ARTIFACTS", str(tmp_path / "artifacts"))


def build_warehouse(path: Path, shared: Path, corpus_name: str) -> Path:
    corpus = load_corpus_config(corpus_name)
    stats = IngestStats()
    with open_writer(path) as con:
        ingest_documents(
            con, read_jsonl(shared / "arxiv_abstracts.jsonl.gz", BadInput(stats, strict=True)), corpus, "shared", stats
        )
        ids, matrix = read_parquet_vectors(shared / "minilm_l6_v2.parquet")
        import_vectors_by_arxiv_id(con, corpus.embed_model, ids, matrix)
    return path


@pytest.fixture(scope="session")
def astro_warehouse_template(tmp_path_factory, shared_data_dir) -> Path:
    """The astro corpus (docs + shared MiniLM vectors) built once per session; do not write to it."""
    return build_warehouse(tmp_path_factory.mktemp("astro") / "astro.duckdb", shared_data_dir, "astro")


@pytest.fixture
def astro_warehouse(astro_warehouse_template, tmp_path) -> Path:
    """A private, writable copy of the astro warehouse."""
    path = tmp_path / "astro.duckdb"
    shutil.copy(astro_warehouse_template, path)
    return path


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


class TrainedWarehouse(NamedTuple):
    """A warehouse with complete SAEs (activations, latents, latent_neighbors written)."""

    path: Path
    sae_ids: list[int]
    """In increasing n_latents (768, 1536, 3072 for ``trained_astro``)."""


TRAINED_ASTRO_LATENTS = (768, 1536, 3072)
TRAINED_ASTRO_STEPS = 100


@pytest.fixture(scope="session")
def trained_astro(astro_warehouse_template, tmp_path_factory) -> TrainedWarehouse:
    """Three small top-k SAEs (k = 32, n = 768/1536/3072) on the astro corpus; READ-ONLY, copy to write."""
    from trainer.api import train_sae

    path = tmp_path_factory.mktemp("trained_astro") / "astro.duckdb"
    shutil.copy(astro_warehouse_template, path)
    sae_ids = [
        train_sae(
            path,
            "astro",
            n_latents=n,
            k=32,
            batch_topk=False,
            max_steps=TRAINED_ASTRO_STEPS,
            batch_size=512,
            lr=1e-3,
            enable_progress_bar=False,
            logger=False,
        )
        for n in TRAINED_ASTRO_LATENTS
    ]
    assert all(sae_id is not None for sae_id in sae_ids)  # one process: rank 0 returns every id
    return TrainedWarehouse(path, [int(sae_id) for sae_id in sae_ids if sae_id is not None])


@pytest.fixture
def trained_astro_copy(trained_astro, tmp_path) -> TrainedWarehouse:
    """A private, writable copy of ``trained_astro`` (checkpoints are shared and read-only)."""
    path = tmp_path / "astro.duckdb"
    shutil.copy(trained_astro.path, path)
    # saes.checkpoint is relative to the warehouse: link each run folder beside the copy (new runs get real ones)
    runs = tmp_path / "astro_runs"
    runs.mkdir()
    for run in (trained_astro.path.parent / "astro_runs").iterdir():
        (runs / run.name).symlink_to(run, target_is_directory=True)
    return TrainedWarehouse(path, list(trained_astro.sae_ids))
