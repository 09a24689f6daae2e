"""Which feature to steer up and which down, per query, and where each feature is active.

Choice (documented in the README):
- down = the query's most strongly activated latent whose density lies in [min_density,
  max_density] (labelled ones first when labels exist): the concept the query is most about,
  so its removal is visible in the original top 10.
- up = a seeded random pick among the ``up_pool`` best labelled candidates that are *not*
  active on the query: features whose best label is stored as clean (``best_labels.clean``,
  decided by interp's ``CleanConfig``) first, then the highest label Pearson. Without any label the
  pool is every feature in the density range (the SAE intervention still runs; the label-based
  rewrite and judge are skipped).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import duckdb
import numpy as np

from evals.steering.config import SteeringBenchConfig


@dataclass
class FeatureCatalog:
    """Per-latent density and the best stored label of each labelled latent of one SAE."""

    density: np.ndarray
    """(n_latents,) stored ``latents.density``: the fraction of documents where the latent is active."""
    labels: dict[int, str]
    """The best label of each labelled latent (``best_labels``)."""
    pearson: dict[int, float]
    clean: frozenset[int]
    """Labelled latents whose best label is stored as clean."""


class FeatureChoice(NamedTuple):
    up: int
    down: int


def load_catalog(con: duckdb.DuckDBPyConnection, sae_id: int, n_latents: int) -> FeatureCatalog:
    """Densities from ``latents``; the best label of each latent and its clean flag from ``best_labels``."""
    stored = con.execute("SELECT latent, density FROM latents WHERE sae_id = ?", [sae_id]).fetchnumpy()
    if not len(stored["latent"]):
        raise ValueError(f"SAE {sae_id} has no stored latents; finish its training (`just train <corpus>`) first")
    density = np.zeros(n_latents)
    density[stored["latent"].astype(np.int64)] = stored["density"]
    rows = con.execute(
        "SELECT latent, label, coalesce(pearson, 0), coalesce(clean, false) FROM best_labels WHERE sae_id = ?", [sae_id]
    ).fetchall()
    return FeatureCatalog(
        density=density,
        labels={latent: label for latent, label, _, _ in rows},
        pearson={latent: float(p) for latent, _, p, _ in rows},
        clean=frozenset(latent for latent, _, _, clean in rows if clean),
    )


def up_candidates(catalog: FeatureCatalog, config: SteeringBenchConfig) -> np.ndarray:
    """Latents the up feature is drawn from (before excluding the query's own), best first."""
    in_range = (catalog.density >= config.min_density) & (catalog.density <= config.max_density)
    latents = np.flatnonzero(in_range)
    if catalog.labels:
        labelled = [latent for latent in latents.tolist() if latent in catalog.labels]
        labelled.sort(key=lambda latent: (latent not in catalog.clean, -catalog.pearson[latent]))
        latents = np.asarray(labelled, dtype=np.int64)
    return latents


def choose_features(
    query_latents: np.ndarray, catalog: FeatureCatalog, candidates: np.ndarray, config: SteeringBenchConfig,
    rng: np.random.Generator,
) -> FeatureChoice | None:
    """(up, down) for one query (``query_latents`` strongest first), or None when none qualifies."""
    in_range = [
        int(latent) for latent in query_latents
        if config.min_density <= catalog.density[int(latent)] <= config.max_density
    ]
    if not in_range:
        return None
    labelled = [latent for latent in in_range if latent in catalog.labels]
    down = (labelled or in_range)[0]
    active = set(int(latent) for latent in query_latents)
    pool = [int(latent) for latent in candidates if int(latent) not in active][: config.up_pool]
    if not pool:
        return None
    return FeatureChoice(up=int(rng.choice(pool)), down=down)


def load_active_docs(con: duckdb.DuckDBPyConnection, sae_id: int, latents: list[int]) -> dict[int, frozenset[int]]:
    """For each latent, the documents where it is active (the ``activations`` table)."""
    rows = con.execute(
        "SELECT latent, list(doc_id) FROM activations WHERE sae_id = ? AND value > 0 AND list_contains(?, latent) GROUP BY latent",
        [sae_id, sorted(set(int(latent) for latent in latents))],
    ).fetchall()
    found = {latent: frozenset(docs) for latent, docs in rows}
    return {int(latent): found.get(int(latent), frozenset()) for latent in latents}
