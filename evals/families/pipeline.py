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


def clean_latents(con: duckdb.DuckDBPyConnection, sae_id: int) -> np.ndarray:
    """Latents whose best stored label is flagged clean (``best_labels.clean``, set by interp)."""
    rows = con.execute("SELECT latent, coalesce(clean, false) FROM best_labels WHERE sae_id = ? ORDER BY latent",
                       [sae_id]).fetchall()
    if not rows:
        raise ValueError(f"clean_only needs stored labels, and SAE {sae_id} has none: run `just interpret <corpus> "
                         f"--sae-id {sae_id}` first, or set clean_only: false in conf/families.yaml")
    return np.array([latent for latent, clean in rows if clean], dtype=np.int64)


def run_families(warehouse: str | Path, sae_id: int, config: FamiliesConfig, labeller: FamilyLabeller) -> FamiliesRun:
    """Compute and store the families of one SAE; re-running replaces the previous rows."""
    started = time.perf_counter()
    with open_reader(warehouse) as con:
        topk = load_topk(con, sae_id, with_values=True)
        allowed = clean_latents(con, sae_id) if config.clean_only else None
    counts = cooccurrence_from_pairs(topk.doc_ids, topk.latents, topk.n_latents)
    counted_s = time.perf_counter() - started
    n_docs = int(np.unique(topk.doc_ids).size)
    weights = pair_weights(counts, n_docs, config.smoothing, minimum=min(config.thresholds))
    families = find_families(weights, counts.diagonal(), config, allowed)
    partners = top_cooccurring(counts, n_docs, config.top_cooccurring, config.smoothing)
    summary = family_statistics(counts, families, config.random_baselines, config.seed)
    labels = labeller.label(warehouse, sae_id, families, topk)
    summary.update({
        "config": {**config.__dict__, "thresholds": list(config.thresholds)},
        "labels": labeller.describe(labels),
        "graph_latents": int(topk.n_latents if allowed is None else allowed.size),
        "read_and_count_seconds": round(counted_s, 3),
        "seconds": round(time.perf_counter() - started, 3),
    })
    with open_writer(warehouse) as con:
        write_families(con, sae_id, partners, families, labels, summary)
    return FamiliesRun(sae_id, families, summary)
