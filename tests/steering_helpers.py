"""Shared helpers for the steering and fidelity tests: an untrained SAE on the real astro vectors."""

from __future__ import annotations

import numpy as np
import torch

from data.embeddings import load_embeddings
from data.warehouse import open_reader
from evals.saes import StoredSAE
from evals.steering.benchmark import Evidence
from evals.steering.cli import reading
from evals.steering.concept_judge import ConceptJudge
from evals.steering.features import load_active_docs, load_doc_latents
from evals.steering.search import SteerableSearch
from trainer.outputs import activation_rows, encode_corpus, latent_rows
from trainer.sae import TopKSAE

MINILM = "all-MiniLM-L6-v2"


def untrained_search(
    warehouse, n_latents: int = 768, k: int = 16, embedder=None, candidates: int = 1024
) -> SteerableSearch:
    """A SteerableSearch over the real astro embeddings with a data-initialised, untrained SAE."""
    with open_reader(warehouse) as con:
        doc_ids, matrix = load_embeddings(con, MINILM)
    torch.manual_seed(0)
    sae = TopKSAE(matrix.shape[1], n_latents, k)
    sae.init_b_pre(torch.from_numpy(matrix[:2000].copy()))
    info = StoredSAE(1, "untrained", "astro", MINILM, matrix.shape[1], n_latents, k)
    return SteerableSearch.from_parts(info, sae, doc_ids, matrix, embedder=embedder, candidates=candidates)


def noisy_queries(matrix: np.ndarray, count: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = matrix[rng.integers(0, len(matrix), count)]
    return (rows + noise * rng.standard_normal(rows.shape)).astype(np.float32)


def write_untrained_atlas(warehouse, search: SteerableSearch) -> dict[int, str]:
    """Store the untrained SAE's activations and one label per latent (the title of its top
    document) in a writable warehouse, as the trainer and interp would; returns the labels."""
    import pyarrow as pa

    from data.warehouse import insert_arrow, open_writer

    codes = encode_corpus(search.sae, search.doc_ids, search.index.exact.numpy())
    best_doc: dict[int, tuple[float, int | None]] = {}  # latent -> (value, doc) of its strongest document
    for row, latent, value in zip(codes.rows, codes.latents, codes.values, strict=False):
        if value > best_doc.get(int(latent), (0.0, None))[0]:
            best_doc[int(latent)] = (float(value), int(search.doc_ids[row]))
    with open_writer(warehouse) as con:
        insert_arrow(con, "activations", activation_rows(search.info.sae_id, codes))
        insert_arrow(con, "latents", latent_rows(search.info.sae_id, search.sae, codes))
        titles = dict(con.execute("SELECT doc_id, title FROM docs").fetchall())
        labels = {latent: titles[doc][:60] for latent, (_, doc) in best_doc.items()}
        interp = pa.table(
            {
                "sae_id": pa.array([search.info.sae_id] * len(labels), pa.int32()),
                "latent": pa.array(list(labels), pa.int32()),
                "explainer": ["top-title"] * len(labels),
                "predictor": ["none"] * len(labels),
                "is_proxy": [True] * len(labels),
                "label": list(labels.values()),
                "pearson": [0.5] * len(labels),
                "f1": [0.5] * len(labels),
                "status": ["complete"] * len(labels),
                "created_at": pa.array([0] * len(labels), pa.timestamp("s")),
            }
        )
        insert_arrow(con, "interpretations", interp)
    return labels


def agreeing_judge(search: SteerableSearch, active_docs) -> ConceptJudge:
    """A judge that agrees with the steering SAE on every latent (its own activations): the most
    lenient judge there is, so a benchmark that still reports no success under it cannot be fooled."""
    n = search.info.n_latents
    return ConceptJudge(
        "the steering SAE itself (test stand-in)", search.info.sae_id, np.arange(n), np.ones(n), 0.4, active_docs
    )


def evidence_from(warehouse, search: SteerableSearch, judge: ConceptJudge | None = None) -> Evidence:
    """Evidence read from the warehouse's activations of ``search``'s SAE; the agreeing judge by default."""
    active = reading(warehouse, load_active_docs, search.info.sae_id)
    return Evidence(
        reading(warehouse, load_doc_latents, search.info.sae_id), active, judge or agreeing_judge(search, active)
    )
