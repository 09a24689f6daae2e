"""A synthetic but plausible warehouse: every table the dashboard reads, at any scale.

The benchmark builds it at the paper's scale (424k documents, n = 9216, k = 64) and the tests at a
small scale on top of the real astro documents. Latents belong to topics: a document activates
mostly latents of its own topic, so densities, co-occurrences, decoder neighbors, families and
splits have the shape real ones have. Everything goes in through Arrow, never row by row.

Over 300 lines as one module on purpose: it writes all nine tables the dashboard reads, and they must
stay mutually consistent (densities, co-occurrences, families and splits from one topic model).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from data.saes import SaeStatus
from data.split import split_of
from data.text import embedding_text, text_hash
from data.warehouse import insert_arrow, open_writer, transaction
from evals.interp.config import CleanConfig

_WORDS = [
    "galaxy",
    "cluster",
    "quasar",
    "pulsar",
    "magnetar",
    "exoplanet",
    "transit",
    "nebula",
    "supernova",
    "dust",
    "accretion",
    "jet",
    "lensing",
    "redshift",
    "halo",
    "cosmology",
    "inflation",
    "neutrino",
    "gamma-ray",
    "x-ray",
    "radio",
    "spectroscopy",
    "photometry",
    "binary",
    "merger",
    "black-hole",
    "neutron-star",
    "white-dwarf",
    "asteroseismology",
    "stellar-wind",
    "disk",
    "planet-formation",
    "comet",
    "asteroid",
    "solar-flare",
    "corona",
    "heliosphere",
    "dark-matter",
    "dark-energy",
    "reionization",
    "21cm",
    "maser",
    "outflow",
    "feedback",
    "starburst",
    "metallicity",
    "kinematics",
    "bar",
    "spiral",
    "dwarf",
    "globular-cluster",
    "open-cluster",
    "variable",
    "cepheid",
    "rr-lyrae",
    "micro-lensing",
    "interferometry",
    "survey",
    "simulation",
    "machine-learning",
    "instrument",
    "telescope",
    "calibration",
    "polarimetry",
]
_ASPECTS = [
    "spectra",
    "timing",
    "population",
    "morphology",
    "evolution",
    "modelling",
    "catalogue",
    "variability",
    "emission",
    "absorption",
    "dynamics",
    "statistics",
    "detection",
    "chemistry",
    "magnetic-fields",
]


@dataclass(frozen=True)
class SyntheticSpec:
    """What to build; the defaults are the paper's scale (its SAE64 on astro-ph)."""

    n_docs: int = 424_000
    """Documents to generate when the warehouse has none (an existing docs table is reused)."""
    sizes: tuple[int, ...] = (3072, 9216)
    """Latent counts of the fully populated SAEs (activations, latents, labels, families...)."""
    k: int = 64
    """Active latents per document of the populated SAEs."""
    grid_k: tuple[int, ...] = (16, 32, 64, 128)
    """k values of the sweep whose runs have metrics only (the scaling figure)."""
    grid_n: tuple[int, ...] = (3072, 4608, 6144, 9216, 12288)
    """n values of that sweep."""
    d_model: int = 1536
    """Embedding width recorded on every run."""
    n_topics: int = 200
    """Topics that group latents and documents."""
    n_neighbors: int = 10
    """Nearest and farthest decoder neighbors stored per latent."""
    n_cooccurring: int = 20
    """Co-occurring latents stored per latent."""
    n_families: int = 150
    """Families per populated SAE (at most one per topic)."""
    seed: int = 0
    corpus: str = "astro"
    embed_model: str = "text-embedding-3-small"


@dataclass
class _Sae:
    sae_id: int
    n_latents: int
    topic_of_latent: np.ndarray
    decoder: np.ndarray  # (n, d_small) unit rows
    labels: list[str] = field(default_factory=list)


def build_synthetic(path: str | Path, spec: SyntheticSpec = SyntheticSpec()) -> list[int]:
    """Add synthetic SAEs (and documents, when there are none) to the warehouse at ``path``.

    Returns the sae_ids of the populated SAEs, smallest first.
    """
    rng = np.random.default_rng(spec.seed)
    topic_centres = _unit(rng.standard_normal((spec.n_topics, 32)).astype(np.float32))
    topic_names = [
        f"{_WORDS[t % len(_WORDS)]} {_ASPECTS[(t // len(_WORDS)) % len(_ASPECTS)]}" for t in range(spec.n_topics)
    ]
    with open_writer(path) as con:
        if con.execute("SELECT count(*) FROM docs").fetchall()[0][0] == 0:
            _insert_docs(con, spec, rng, topic_names)
        doc_ids = con.execute("SELECT doc_id FROM docs ORDER BY doc_id").fetchnumpy()["doc_id"]
        topic_of_doc = rng.integers(0, spec.n_topics, size=len(doc_ids))
        next_id = con.execute("SELECT coalesce(max(sae_id), 0) + 1 FROM saes").fetchall()[0][0]
        _insert_sweep(con, spec, rng, next_id)
        next_id += len(spec.grid_k) * len(spec.grid_n)
        populated: list[_Sae] = []
        for n_latents in spec.sizes:
            sae = _make_sae(next_id, n_latents, spec, rng, topic_centres, topic_names)
            next_id += 1
            with transaction(con):
                _insert_populated(con, sae, spec, rng, doc_ids, topic_of_doc)
            populated.append(sae)
        with transaction(con):
            for small, large in zip(populated, populated[1:], strict=False):
                _insert_splits(con, small, large)
    return [sae.sae_id for sae in populated]


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _insert_docs(
    con: duckdb.DuckDBPyConnection, spec: SyntheticSpec, rng: np.random.Generator, topic_names: list[str]
) -> None:
    n = spec.n_docs
    topics = rng.integers(0, len(topic_names), size=n)
    titles = [f"A synthetic study of {topic_names[t]} ({i})" for i, t in enumerate(topics)]
    abstracts = [
        f"We present observations of {topic_names[t]} in a sample of {i % 997 + 3} sources "
        f"and compare them with models of {topic_names[(t + 7) % len(topic_names)]}."
        for i, t in enumerate(topics)
    ]
    start = dt.date(2015, 1, 1)
    rows = pa.table(
        {
            "doc_id": pa.array(np.arange(n, dtype=np.int32)),
            "arxiv_id": [f"{15 + i // 40_000:02d}{(i // 10_000) % 4 + 1:02d}.{i % 100_000:05d}" for i in range(n)],
            "title": titles,
            "abstract": abstracts,
            "categories": pa.array([["astro-ph.GA"]] * n, pa.list_(pa.string())),
            "published": pa.array(
                [start + dt.timedelta(days=int(x)) for x in rng.integers(0, 3650, size=n)], pa.date32()
            ),
            "version": pa.array(np.ones(n, dtype=np.int32)),
            "text_hash": [text_hash(embedding_text(a, b)) for a, b in zip(titles, abstracts, strict=False)],
            "source": pa.array(["synthetic"] * n),
        }
    )
    rows = rows.append_column(
        "split", pa.array([split_of(arxiv_id) for arxiv_id in rows.column("arxiv_id").to_pylist()])
    )
    with transaction(con):
        insert_arrow(con, "docs", rows)


def _sae_row(sae_id: int, name: str, spec: SyntheticSpec, n: int, k: int, metrics: dict) -> dict:
    config = {"lr": 1e-4, "batch_size": 1024, "steps": 13_300, "auxk_coef": 1 / 32, "synthetic": True}
    return {
        "sae_id": sae_id,
        "name": name,
        "corpus": spec.corpus,
        "embed_model": spec.embed_model,
        "d": spec.d_model,
        "n_latents": n,
        "k": k,
        "k_aux": 2 * k,
        "config": json.dumps(config),
        "metrics": json.dumps(metrics),
        "checkpoint": None,
        "status": SaeStatus.COMPLETE.value,
        "created_at": dt.datetime(2026, 1, 1),
        "finished_at": dt.datetime(2026, 1, 1, 1),
    }


def _metrics(n: int, k: int, rng: np.random.Generator) -> dict:
    # Scaling-law shape: FVU falls as a power of n and of k, with a little noise. The trainer's metric names.
    fvu = 0.9 * n**-0.18 * k**-0.35 * float(np.exp(rng.normal(0, 0.02)))
    return {
        "val_fvu": fvu,
        "val_l0": float(k),
        "dead_fraction": float(np.clip(rng.normal(0.02 * n / 9216, 0.005), 0, 1)),
    }


def _insert_sweep(con: duckdb.DuckDBPyConnection, spec: SyntheticSpec, rng: np.random.Generator, first_id: int) -> None:
    rows = []
    sae_id = first_id
    for k in spec.grid_k:
        for n in spec.grid_n:
            rows.append(_sae_row(sae_id, f"sweep-k{k}-n{n}", spec, n, k, _metrics(n, k, rng)))
            sae_id += 1
    with transaction(con):
        insert_arrow(con, "saes", pa.Table.from_pylist(rows))


def _make_sae(
    sae_id: int, n: int, spec: SyntheticSpec, rng: np.random.Generator, centres: np.ndarray, topic_names: list[str]
) -> _Sae:
    topic_of_latent = rng.integers(0, spec.n_topics, size=n)
    decoder = _unit(centres[topic_of_latent] + 0.6 * rng.standard_normal((n, centres.shape[1])).astype(np.float32))
    labels = [f"{topic_names[t]}: {_ASPECTS[(i * 7 + t) % len(_ASPECTS)]} {i}" for i, t in enumerate(topic_of_latent)]
    return _Sae(sae_id, n, topic_of_latent, decoder, labels)


def _insert_populated(con, sae: _Sae, spec: SyntheticSpec, rng, doc_ids: np.ndarray, topic_of_doc: np.ndarray) -> None:
    metrics = _metrics(sae.n_latents, spec.k, rng)
    insert_arrow(
        con,
        "saes",
        pa.Table.from_pylist(
            [_sae_row(sae.sae_id, f"synthetic-n{sae.n_latents}-k{spec.k}", spec, sae.n_latents, spec.k, metrics)]
        ),
    )
    docs, latents, values = _activations(sae, spec, rng, doc_ids, topic_of_doc)
    activations = pa.table(
        {
            "sae_id": pa.array(np.full(len(docs), sae.sae_id, dtype=np.int32)),
            "doc_id": pa.array(docs),
            "latent": pa.array(latents),
            "value": pa.array(values),
        }
    )
    insert_arrow(con, "activations", activations, order_by="sae_id, latent, value DESC")
    con.execute(
        """
        INSERT INTO latents (sae_id, latent, density, mean_act, max_act, enc_dec_cos)
        SELECT ?, l.latent, coalesce(a.n, 0) / ?::DOUBLE, coalesce(a.mean_act, 0), coalesce(a.max_act, 0),
               0.6 + 0.4 * (hash(l.latent) % 1000) / 1000.0
        FROM range(?) l(latent)
        LEFT JOIN (SELECT latent, count(*) n, avg(value) mean_act, max(value) max_act
                   FROM activations WHERE sae_id = ? GROUP BY latent) a USING (latent)
        """,
        [sae.sae_id, len(doc_ids), sae.n_latents, sae.sae_id],
    )
    insert_arrow(con, "latent_neighbors", _neighbors(sae, spec))
    insert_arrow(con, "cooccurrence", _cooccurrence(sae, spec, docs, latents, len(doc_ids)))
    density = con.execute("SELECT density FROM latents WHERE sae_id = ? ORDER BY latent", [sae.sae_id]).fetchnumpy()[
        "density"
    ]
    insert_arrow(con, "interpretations", _interpretations(sae, rng, density))
    families, members = _families(sae, spec, rng, con)
    insert_arrow(con, "families", families)
    insert_arrow(con, "family_members", members)


def _activations(sae: _Sae, spec: SyntheticSpec, rng, doc_ids: np.ndarray, topic_of_doc: np.ndarray):
    """Top-k per document by the Gumbel-top-k trick: popularity (Zipf) plus a topic boost."""
    n, k = sae.n_latents, spec.k
    popularity = -0.6 * np.log(rng.permutation(n) + 1.0).astype(np.float32)
    boost = np.zeros((spec.n_topics, n), dtype=np.float32)
    boost[sae.topic_of_latent, np.arange(n)] = 4.0
    batch = max(1, 16_000_000 // n)
    docs_out, latents_out, values_out = [], [], []
    for start in range(0, len(doc_ids), batch):
        stop = min(start + batch, len(doc_ids))
        uniform = rng.random((stop - start, n), dtype=np.float32)
        scores = popularity + boost[topic_of_doc[start:stop]] - np.log(-np.log(uniform + 1e-12) + 1e-12)
        top = np.argpartition(scores, -k, axis=1)[:, -k:]
        values = np.sort(rng.gamma(2.0, 0.15, size=top.shape).astype(np.float32), axis=1)[:, ::-1]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        docs_out.append(np.repeat(doc_ids[start:stop].astype(np.int32), k))
        latents_out.append(np.take_along_axis(top, order, axis=1).astype(np.int32).ravel())
        values_out.append(values.ravel())
    return np.concatenate(docs_out), np.concatenate(latents_out), np.concatenate(values_out)


def _neighbors(sae: _Sae, spec: SyntheticSpec) -> pa.Table:
    m = spec.n_neighbors
    latent, kind, rank, neighbor, cosine = [], [], [], [], []
    for start in range(0, sae.n_latents, 1024):
        stop = min(start + 1024, sae.n_latents)
        cos = sae.decoder[start:stop] @ sae.decoder.T
        cos[np.arange(stop - start), np.arange(start, stop)] = np.nan
        for name, sign in (("nearest", -1), ("farthest", 1)):
            # The latent itself (NaN) sorts last either way.
            best = np.argsort(np.nan_to_num(sign * cos, nan=np.inf), axis=1)[:, :m]
            latent.append(np.repeat(np.arange(start, stop, dtype=np.int32), m))
            kind += [name] * ((stop - start) * m)
            rank.append(np.tile(np.arange(1, m + 1, dtype=np.int32), stop - start))
            neighbor.append(best.astype(np.int32).ravel())
            cosine.append(np.take_along_axis(cos, best, axis=1).ravel().astype(np.float64))
    count = sum(len(x) for x in latent)
    return pa.table(
        {
            "sae_id": pa.array(np.full(count, sae.sae_id, dtype=np.int32)),
            "latent": np.concatenate(latent),
            "kind": pa.array(kind),
            "rank": np.concatenate(rank),
            "neighbor": np.concatenate(neighbor),
            "cosine": np.concatenate(cosine),
        }
    )


def _cooccurrence(sae: _Sae, spec: SyntheticSpec, docs: np.ndarray, latents: np.ndarray, n_docs: int) -> pa.Table:
    """Exact co-occurrence counts (A^T A in chunks); weight = count / min(occurrences): P(j | i) for the rarer."""
    incidence = sp.csr_matrix((np.ones(len(docs), dtype=np.float32), (docs, latents)), shape=(n_docs, sae.n_latents))
    by_latent = incidence.T.tocsr()
    occurrences = np.asarray(by_latent.sum(axis=1)).ravel()
    m = spec.n_cooccurring
    out: dict[str, list[np.ndarray]] = {"latent": [], "other": [], "count": [], "weight": []}
    for start in range(0, sae.n_latents, 512):
        stop = min(start + 512, sae.n_latents)
        counts = (by_latent[start:stop] @ incidence).toarray()
        counts[np.arange(stop - start), np.arange(start, stop)] = 0
        best = np.argsort(-counts, axis=1)[:, :m]
        top = np.take_along_axis(counts, best, axis=1)
        rows = np.repeat(np.arange(start, stop), m)
        keep = top.ravel() > 0
        other = best.ravel()[keep]
        count = top.ravel()[keep]
        out["latent"].append(rows[keep].astype(np.int32))
        out["other"].append(other.astype(np.int32))
        out["count"].append(count.astype(np.int32))
        out["weight"].append(count / np.maximum(np.minimum(occurrences[rows[keep]], occurrences[other]), 1))
    columns = {name: np.concatenate(parts) for name, parts in out.items()}
    return pa.table({"sae_id": pa.array(np.full(len(columns["latent"]), sae.sae_id, dtype=np.int32)), **columns})


def _interpretations(sae: _Sae, rng, density: np.ndarray) -> pa.Table:
    n = sae.n_latents
    quality = rng.beta(4, 2, size=n)

    def noise() -> np.ndarray:
        return rng.normal(0, 0.05, size=n)

    pearson, f1 = np.clip(quality + noise(), -1, 1), np.clip(quality + noise(), 0, 1)
    return pa.table(
        {
            "sae_id": pa.array(np.full(n, sae.sae_id, dtype=np.int32)),
            "latent": pa.array(np.arange(n, dtype=np.int32)),
            "explainer": pa.array(["keywords-v1"] * n),
            "predictor": pa.array(["embedding-auroc"] * n),
            "is_proxy": pa.array(np.ones(n, dtype=bool)),
            "label": pa.array(sae.labels),
            "reasoning": pa.array(["synthetic label"] * n),
            "pearson": pearson,
            "f1": f1,
            "clean": pa.array(CleanConfig().accepts(pearson, f1, density)),
            "auroc": np.clip(0.5 + quality / 2 + noise(), 0, 1),
            "balanced_accuracy": np.clip(0.5 + quality / 2.2 + noise(), 0, 1),
            "random_pearson": rng.normal(0.0, 0.1, size=n),
            "random_f1": np.clip(rng.normal(0.3, 0.1, size=n), 0, 1),
            "random_auroc": np.clip(rng.normal(0.5, 0.06, size=n), 0, 1),
            "auroc_random": np.clip(0.45 + quality / 2 + noise(), 0, 1),
            "auroc_hard": np.clip(0.35 + quality / 3 + noise(), 0, 1),
            "random_auroc_random": np.clip(rng.normal(0.5, 0.06, size=n), 0, 1),
            "random_auroc_hard": np.clip(rng.normal(0.45, 0.06, size=n), 0, 1),
            "random_balanced_accuracy": np.clip(rng.normal(0.5, 0.05, size=n), 0, 1),
            "n_scored": pa.array(np.full(n, 40, dtype=np.int32)),
            "parse_failures": pa.array(np.zeros(n, dtype=np.int32)),
            "status": pa.array(["complete"] * n),
            "error": pa.array([None] * n, pa.string()),
            "created_at": pa.array([dt.datetime(2026, 1, 2)] * n),
        }
    )


def _families(sae: _Sae, spec: SyntheticSpec, rng, con) -> tuple[pa.Table, pa.Table]:
    """One family per topic: the densest latent is the root, its topic mates the children (two levels)."""
    density = con.execute("SELECT density FROM latents WHERE sae_id = ? ORDER BY latent", [sae.sae_id]).fetchnumpy()[
        "density"
    ]
    families, members = [], []
    for family_id, topic in enumerate(rng.permutation(spec.n_topics)[: spec.n_families]):
        mates = np.flatnonzero(sae.topic_of_latent == topic)
        if len(mates) < 3:
            continue
        mates = mates[np.argsort(-density[mates])][:12]
        root, children = int(mates[0]), [int(x) for x in mates[1:]]
        quality = float(rng.beta(4, 2))
        families.append(
            {
                "sae_id": sae.sae_id,
                "family_id": family_id,
                "root_latent": root,
                "pass": 1,
                "n_children": len(children),
                "label": sae.labels[root].split(":")[0],
                "is_proxy": True,
                "pearson": quality,
                "f1": quality,
                "auroc": 0.5 + quality / 2,
                "clean": CleanConfig().accepts(quality, quality, density[root]),
            }
        )
        members.append(
            {"sae_id": sae.sae_id, "family_id": family_id, "latent": root, "parent_latent": None, "depth": 0}
        )
        for i, child in enumerate(children):
            parent, depth = (root, 1) if i < 4 else (children[i % 4], 2)
            members.append(
                {"sae_id": sae.sae_id, "family_id": family_id, "latent": child, "parent_latent": parent, "depth": depth}
            )
    family_schema = pa.schema(
        [
            ("sae_id", pa.int32()),
            ("family_id", pa.int32()),
            ("root_latent", pa.int32()),
            ("pass", pa.int32()),
            ("n_children", pa.int32()),
            ("label", pa.string()),
            ("is_proxy", pa.bool_()),
            ("pearson", pa.float64()),
            ("f1", pa.float64()),
            ("auroc", pa.float64()),
            ("clean", pa.bool_()),
        ]
    )
    member_schema = pa.schema(
        [
            ("sae_id", pa.int32()),
            ("family_id", pa.int32()),
            ("latent", pa.int32()),
            ("parent_latent", pa.int32()),
            ("depth", pa.int32()),
        ]
    )
    return pa.Table.from_pylist(families, family_schema), pa.Table.from_pylist(members, member_schema)


def _insert_splits(con, small: _Sae, large: _Sae) -> None:
    """Each latent of the larger SAE matched to its nearest (decoder cosine) latent of the smaller one."""
    best, cosine = [], []
    for start in range(0, large.n_latents, 2048):
        cos = large.decoder[start : start + 2048] @ small.decoder.T
        index = np.argmax(cos, axis=1)
        best.append(index.astype(np.int32))
        cosine.append(cos[np.arange(len(index)), index].astype(np.float64))
    n = large.n_latents
    insert_arrow(
        con,
        "splits",
        pa.table(
            {
                "small_sae_id": pa.array(np.full(n, small.sae_id, dtype=np.int32)),
                "large_sae_id": pa.array(np.full(n, large.sae_id, dtype=np.int32)),
                "large_latent": pa.array(np.arange(n, dtype=np.int32)),
                "small_latent": np.concatenate(best),
                "cosine": np.concatenate(cosine),
            }
        ),
    )
