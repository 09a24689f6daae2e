"""Which feature to steer up and which down, per query, and where each feature is active.

Choice (documented in the README):
- down = the query's most strongly activated latent whose density lies in [min_density,
  max_density] (labelled ones first when labels exist): the concept the query is most about,
  so its removal is visible in the original top 10.
- up = a seeded random pick among the ``up_pool`` best labelled candidates that are *not*
  active on the query: "clean" features (interp's ``is_clean``: Pearson, F1, density) first,
  then the highest label Pearson. Without any label the pool is every feature in the density
  range (the SAE intervention still runs; the label-based rewrite and judge are skipped).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import duckdb
import numpy as np

from evals.interp.metrics import is_clean
from evals.steering.config import SteeringBenchConfig


@dataclass
class FeatureCatalog:
    """Per-latent density and the best stored label of each labelled latent of one SAE."""

    density: np.ndarray
    """(n_latents,) fraction of documents where the latent is in the top k."""
    labels: dict[int, str]
    pearson: dict[int, float]
    f1: dict[int, float]

    def clean(self, latent: int) -> bool:
        return latent in self.labels and is_clean(self.pearson.get(latent, 0.0), self.f1.get(latent, 0.0), float(self.density[latent]))


class FeatureChoice(NamedTuple):
    up: int
    down: int


def load_catalog(con: duckdb.DuckDBPyConnection, sae_id: int, n_latents: int) -> FeatureCatalog:
    """Densities from the stored activations; labels from ``interpretations`` (LLM before proxy, best Pearson)."""
    n_docs = con.execute("SELECT count(DISTINCT doc_id) FROM activations WHERE sae_id = ?", [sae_id]).fetchall()[0][0]
    if not n_docs:
        raise ValueError(f"SAE {sae_id} has no stored activations; finish its training (`just train <corpus>`) first")
    counts = con.execute(
        "SELECT latent, count(*) FROM activations WHERE sae_id = ? AND value > 0 GROUP BY latent", [sae_id]
    ).fetchnumpy()
    density = np.zeros(n_latents)
    density[counts["latent"].astype(np.int64)] = counts["count_star()"] / n_docs
    rows = con.execute(
        """
        SELECT latent, label, coalesce(pearson, 0), coalesce(f1, 0) FROM interpretations
        WHERE sae_id = ? AND status = 'complete' AND label IS NOT NULL AND trim(label) <> ''
        QUALIFY row_number() OVER (PARTITION BY latent ORDER BY is_proxy, pearson DESC NULLS LAST) = 1
        """,
        [sae_id],
    ).fetchall()
    return FeatureCatalog(
        density=density,
        labels={latent: label for latent, label, _, _ in rows},
        pearson={latent: float(p) for latent, _, p, _ in rows},
        f1={latent: float(f) for latent, _, _, f in rows},
    )


def up_candidates(catalog: FeatureCatalog, config: SteeringBenchConfig) -> np.ndarray:
    """Latents the up feature is drawn from (before excluding the query's own), best first."""
    in_range = (catalog.density >= config.min_density) & (catalog.density <= config.max_density)
    latents = np.flatnonzero(in_range)
    if catalog.labels:
        labelled = [latent for latent in latents.tolist() if latent in catalog.labels]
        labelled.sort(key=lambda latent: (not catalog.clean(latent), -catalog.pearson[latent]))
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
