"""One SAE's families end to end: stored activations -> counts -> families -> stats -> warehouse."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from data.warehouse import open_reader, open_writer
from evals.cooccurrence import cooccurrence_from_pairs, load_topk, pair_weights, top_cooccurring
from evals.families.config import FamiliesConfig
from evals.families.graph import Family, find_families
from evals.families.labels import FamilyLabeller
from evals.families.stats import family_statistics
from evals.families.store import write_families


@dataclass(frozen=True)
class FamiliesRun:
    """What one run found for one SAE (the rows are in the warehouse)."""

    sae_id: int
    families: list[Family]
    summary: dict


def complete_sae_ids(con: duckdb.DuckDBPyConnection, corpus: str) -> list[int]:
    """Ids of the corpus's complete SAEs, smallest first."""
    return [row[0] for row in con.execute(
        "SELECT sae_id FROM saes WHERE corpus = ? AND status = 'complete' ORDER BY n_latents, sae_id", [corpus]
    ).fetchall()]


def run_families(warehouse: str | Path, sae_id: int, config: FamiliesConfig, labeller: FamilyLabeller) -> FamiliesRun:
    """Compute and store the families of one SAE; re-running replaces the previous rows."""
    started = time.perf_counter()
    with open_reader(warehouse) as con:
        topk = load_topk(con, sae_id, with_values=True)
    counts = cooccurrence_from_pairs(topk.doc_ids, topk.latents, topk.n_latents)
    counted_s = time.perf_counter() - started
    n_docs = int(np.unique(topk.doc_ids).size)
    families = find_families(pair_weights(counts, n_docs, config.smoothing), counts.diagonal(), config)
    partners = top_cooccurring(counts, n_docs, config.top_cooccurring, config.smoothing)
    summary = family_statistics(counts, families, config.random_baselines, config.seed)
    labels = labeller.label(warehouse, sae_id, families, topk)
    summary.update({
        "config": {**config.__dict__, "thresholds": list(config.thresholds)},
        "labels": labeller.describe(labels),
        "cooccurrence_seconds": round(counted_s, 3),
        "seconds": round(time.perf_counter() - started, 3),
    })
    with open_writer(warehouse) as con:
        write_families(con, sae_id, partners, families, labels, summary)
    return FamiliesRun(sae_id, families, summary)
