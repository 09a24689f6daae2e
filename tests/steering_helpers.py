"""Shared helpers for the steering and fidelity tests: an untrained SAE on the real astro vectors."""
from __future__ import annotations

import numpy as np
import torch

from data.embeddings import load_embeddings
from data.warehouse import open_reader
from evals.steering.search import SAEInfo, SteerableSearch
from trainer.sae import TopKSAE

MINILM = "all-MiniLM-L6-v2"


def untrained_search(warehouse, n_latents: int = 768, k: int = 16, embedder=None, candidates: int = 256) -> SteerableSearch:
    """A SteerableSearch over the real astro embeddings with a data-initialised, untrained SAE."""
    with open_reader(warehouse) as con:
        doc_ids, matrix = load_embeddings(con, MINILM)
    torch.manual_seed(0)
    sae = TopKSAE(matrix.shape[1], n_latents, k)
    sae.init_b_pre(torch.from_numpy(matrix[:2000].copy()))
    info = SAEInfo(1, "untrained", "astro", MINILM, matrix.shape[1], n_latents, k)
    return SteerableSearch.from_parts(info, sae, doc_ids, matrix, embedder=embedder, candidates=candidates)


def noisy_queries(matrix: np.ndarray, count: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = matrix[rng.integers(0, len(matrix), count)]
    return (rows + noise * rng.standard_normal(rows.shape)).astype(np.float32)
