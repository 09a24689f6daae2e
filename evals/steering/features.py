"""Which feature to steer up and which down, per query, and where each feature is active.

Choice (documented in the README); every chosen latent has a counterpart in the judge SAE:
- down = the query's most strongly activated latent whose density lies in [min_density,
  max_density] (labelled ones first when labels exist): the concept the query is most about,
  so its removal is visible in the original top 10.
- up = the latent most *relevant* to the query that neither the query nor its current results
  carry: among the latents active on at most ``up_max_in_results`` of the query's top 10 and on
  at least ``up_min_docs`` of the next documents of its top ``neighbourhood`` (ranks 11-100), but
  not on the query itself, the one most enriched there: count * log(count / expected), expected =
  (neighbourhood - top) * density (labelled ones first when labels exist). Deterministic, never
  random: a topic close to the query that a researcher could want more of, and whose arrival in
  the top 10 is visible (it starts near zero, so drift cannot fake it by keeping the results).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
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


class FeatureChoice(NamedTuple):
    up: int
    down: int


def load_catalog(con: duckdb.DuckDBPyConnection, sae_id: int, n_latents: int) -> FeatureCatalog:
    """Densities from ``latents``; the best label of each latent from ``best_labels``."""
    stored = con.execute("SELECT latent, density FROM latents WHERE sae_id = ?", [sae_id]).fetchnumpy()
    if not len(stored["latent"]):
        raise ValueError(f"SAE {sae_id} has no stored latents; finish its training (`just train <corpus>`) first")
    density = np.zeros(n_latents)
    density[stored["latent"].astype(np.int64)] = stored["density"]
    rows = con.execute(
        "SELECT latent, label FROM best_labels WHERE sae_id = ? AND label IS NOT NULL AND trim(label) <> ''", [sae_id]
    ).fetchall()
    return FeatureCatalog(density=density, labels=dict(rows))


def relevance(
    neighbourhood_latents: list[np.ndarray],
    query_latents: np.ndarray,
    catalog: FeatureCatalog,
    config: SteeringBenchConfig,
    judgeable: Callable[[int], bool],
) -> list[tuple[float, int]]:
    """(score, latent) of every up candidate, best first: enriched just beyond the results, absent from the query."""

    def counts(latent_lists: list[np.ndarray]) -> Counter:
        return Counter(int(latent) for latents in latent_lists for latent in set(latents.tolist()))

    in_results, beyond = counts(neighbourhood_latents[: config.top]), counts(neighbourhood_latents[config.top :])
    active = {int(latent) for latent in query_latents}
    scored = []
    for latent, count in beyond.items():
        density = float(catalog.density[latent])
        if (
            latent in active
            or in_results[latent] > config.up_max_in_results
            or count < config.up_min_docs
            or not config.min_density <= density <= config.max_density
        ):
            continue
        expected = (len(neighbourhood_latents) - config.top) * density
        if count > expected and judgeable(latent):
            scored.append((count * math.log(count / expected), latent))
    if catalog.labels and any(latent in catalog.labels for _, latent in scored):
        scored = [(score, latent) for score, latent in scored if latent in catalog.labels]
    return sorted(scored, key=lambda item: (-item[0], item[1]))


def choose_features(
    query_latents: np.ndarray,
    neighbourhood_latents: list[np.ndarray],
    catalog: FeatureCatalog,
    config: SteeringBenchConfig,
    judgeable: Callable[[int], bool],
) -> FeatureChoice | str:
    """(up, down) for one query (``query_latents`` strongest first; the active latents of each of its top
    ``neighbourhood`` documents, best first), or the reason why none qualifies."""
    in_range = [
        int(latent)
        for latent in query_latents
        if config.min_density <= catalog.density[int(latent)] <= config.max_density and judgeable(int(latent))
    ]
    if not in_range:
        return "no judgeable query latent in the density range (down)"
    labelled = [latent for latent in in_range if latent in catalog.labels]
    down = (labelled or in_range)[0]
    ranked = relevance(neighbourhood_latents, query_latents, catalog, config, judgeable)
    if not ranked:
        return "no judgeable latent enriched in the query's neighbourhood (up)"
    return FeatureChoice(up=ranked[0][1], down=down)


def load_doc_latents(con: duckdb.DuckDBPyConnection, sae_id: int, doc_ids: list[int]) -> dict[int, np.ndarray]:
    """For each document, its active latents (the ``activations`` table; any number per document)."""
    rows = con.execute(
        "SELECT doc_id, list(latent) FROM activations"
        " WHERE sae_id = ? AND value > 0 AND list_contains(?, doc_id) GROUP BY doc_id",
        [sae_id, sorted({int(doc) for doc in doc_ids})],
    ).fetchall()
    found = {doc: np.asarray(latents, dtype=np.int64) for doc, latents in rows}
    return {int(doc): found.get(int(doc), np.zeros(0, dtype=np.int64)) for doc in doc_ids}


def load_active_docs(con: duckdb.DuckDBPyConnection, sae_id: int, latents: list[int]) -> dict[int, frozenset[int]]:
    """For each latent, the documents where it is active (the ``activations`` table)."""
    rows = con.execute(
        "SELECT latent, list(doc_id) FROM activations"
        " WHERE sae_id = ? AND value > 0 AND list_contains(?, latent) GROUP BY latent",
        [sae_id, sorted({int(latent) for latent in latents})],
    ).fetchall()
    found = {latent: frozenset(docs) for latent, docs in rows}
    return {int(latent): found.get(int(latent), frozenset()) for latent in latents}
