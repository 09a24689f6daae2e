"""One SAE's families end to end: stored activations -> counts -> families -> stats -> warehouse."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from data.embeddings import load_embeddings
from data.split import TEST
from data.warehouse import open_reader, open_writer
from evals.cooccurrence import cooccurrence_from_pairs, load_topk, pair_weights, top_cooccurring
from evals.families.coherence import family_coherence
from evals.families.config import FamiliesConfig
from evals.families.graph import Family, find_families
from evals.families.labels import FamilyLabeller
from evals.families.partition import max_children, partition, random_group_lift
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
    rows = con.execute(
        "SELECT latent, coalesce(clean, false) FROM best_labels WHERE sae_id = ? ORDER BY latent", [sae_id]
    ).fetchall()
    if not rows:
        raise ValueError(
            f"clean_only needs stored labels, and SAE {sae_id} has none: run `just interpret <corpus> "
            f"--sae-id {sae_id}` first, or set clean_only: false in conf/families.yaml"
        )
    return np.array([latent for latent, clean in rows if clean], dtype=np.int64)


def test_split_embeddings(con: duckdb.DuckDBPyConnection, sae_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Doc ids (sorted) and embeddings of the test split, in the SAE's embedding model."""
    embed_model = con.execute("SELECT embed_model FROM saes WHERE sae_id = ?", [sae_id]).fetchall()[0][0]
    doc_ids, matrix = load_embeddings(con, embed_model)
    test = {row[0] for row in con.execute("SELECT doc_id FROM docs WHERE split = ?", [TEST]).fetchall()}
    keep = np.fromiter((int(d) in test for d in doc_ids), dtype=bool, count=len(doc_ids))
    return doc_ids[keep], matrix[keep]


def coherence_summary(
    counts,
    n_docs: int,
    candidates: list[Family],
    families: list[Family],
    lifts: list[float],
    coherence: list[float],
    pool: np.ndarray,
    config: FamiliesConfig,
) -> dict:
    """How coherent the kept families are, against random groups of latents of the same sizes."""
    sizes = [len(f.members) for f in families]
    baseline = random_group_lift(counts, n_docs, pool, sizes, config.random_baselines, config.seed)
    median_lift = float(np.median(lifts)) if lifts else None
    children = [c for f in families for c in f.children]
    return {
        "candidates": len(candidates),
        "kept": len(families),
        "min_cooccurrence_lift": config.min_cooccurrence_lift,
        "max_children": max_children(config, counts.shape[0]),
        "median_cooccurrence_lift": median_lift,
        "random_group_lift": baseline,
        "lift_over_random": median_lift / baseline if median_lift is not None and baseline > 0 else None,
        "median_coherence": float(np.nanmedian(coherence)) if np.isfinite(coherence).any() else None,
        "largest_family_share": max(sizes, default=0) / counts.shape[0],
        "children_in_several_families": len(children) - len(set(children)),
    }


def run_families(warehouse: str | Path, sae_id: int, config: FamiliesConfig, labeller: FamilyLabeller) -> FamiliesRun:
    """Compute and store the families of one SAE; re-running replaces the previous rows."""
    started = time.perf_counter()
    with open_reader(warehouse) as con:
        topk = load_topk(con, sae_id, with_values=True)
        allowed = clean_latents(con, sae_id) if config.clean_only else None
        test_doc_ids, test_embeddings = test_split_embeddings(con, sae_id)
    counts = cooccurrence_from_pairs(topk.doc_ids, topk.latents, topk.n_latents)
    counted_s = time.perf_counter() - started
    n_docs = int(np.unique(topk.doc_ids).size)
    weights = pair_weights(counts, n_docs, config.smoothing, minimum=min(config.thresholds))
    candidates = find_families(weights, counts.diagonal(), config, allowed)
    families, lifts = partition(candidates, counts, n_docs, config)
    coherence = family_coherence(topk, families, test_doc_ids, test_embeddings)
    partners = top_cooccurring(counts, n_docs, config.top_cooccurring, config.smoothing)
    summary = family_statistics(counts, families, config.random_baselines, config.seed)
    pool = np.flatnonzero(counts.diagonal() >= config.min_latent_docs)
    pool = pool if allowed is None else np.intersect1d(pool, allowed)
    summary["coherence"] = coherence_summary(counts, n_docs, candidates, families, lifts, coherence, pool, config)
    labels = labeller.label(warehouse, sae_id, families, topk)
    summary.update(
        {
            "config": {**config.__dict__, "thresholds": list(config.thresholds)},
            "labels": labeller.describe(labels),
            "graph_latents": int(topk.n_latents if allowed is None else allowed.size),
            "read_and_count_seconds": round(counted_s, 3),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    with open_writer(warehouse) as con:
        write_families(con, sae_id, partners, families, labels, summary, lifts, coherence)
    return FamiliesRun(sae_id, families, summary)
