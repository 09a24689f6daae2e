"""A contrast: which features of an SAE separate documents by a target, selected on train, tested on test.

Reads the stored activations, ``docs.split`` (``data/split.py``: 'train' | 'test') and the target
expression (``evals.contrast.target``); writes one ``contrasts`` row and the selected features to
``contrast_features``, replacing a previous run of the same (SAE, target, method) in one transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from data.embeddings import load_embeddings
from data.split import TEST, TRAIN
from data.warehouse import insert_arrow, open_reader, open_writer, transaction
from evals.contrast.evaluate import FeatureEffects, embedding_score, feature_effects, features_score
from evals.contrast.select import select_features
from evals.contrast.target import Target, parse_target
from evals.cooccurrence import load_topk
from evals.saes import StoredSAE, pick_sae
from evals.steering.features import load_catalog


@dataclass(frozen=True)
class ContrastConfig:
    """How features are selected on the training split."""

    method: Literal["l1", "correlation"] = "l1"
    """'l1' (L1-regularised logistic / linear regression) or 'correlation' (largest |Pearson r|)."""
    n_features: int = 20
    """Features selected."""
    min_active: int = 10
    """Features active in fewer training documents are never selected."""
    seed: int = 0
    """Seed of the regressions' solvers (selection and the held-out comparison)."""

    def __post_init__(self) -> None:
        if self.n_features < 1 or self.min_active < 1:
            raise ValueError(
                f"contrast: n_features and min_active must be at least 1; got {self.n_features}, {self.min_active}"
            )


@dataclass(frozen=True)
class ContrastReport:
    sae: StoredSAE
    target: Target
    config: ContrastConfig
    latents: np.ndarray
    train_scores: np.ndarray
    effects: FeatureEffects
    labels: dict[int, str]
    n_train: int
    n_test: int
    train_mean: float
    test_mean: float
    metric: str
    features_score: float
    embedding_score: float
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ContrastData:
    """Documents with a target value, aligned: activations, embeddings, target, split."""

    X: sp.csr_array
    E: np.ndarray
    y: np.ndarray
    is_test: np.ndarray


def load_contrast_data(con: duckdb.DuckDBPyConnection, sae: StoredSAE, target: Target) -> ContrastData:
    rows = con.execute(
        f"SELECT doc_id, split, ({target.sql}) AS y FROM docs ORDER BY doc_id", list(target.params)
    ).fetchnumpy()
    doc_ids, emb = load_embeddings(con, sae.embed_model)
    y_all = np.ma.filled(np.ma.asarray(rows["y"]).astype(float), np.nan)  # NULL target -> NaN -> left out
    keep = np.isfinite(y_all) & np.isin(rows["doc_id"], doc_ids)
    ids = rows["doc_id"][keep].astype(np.int64)
    topk = load_topk(con, sae.sae_id, with_values=True)
    position = np.searchsorted(ids, topk.doc_ids)
    position = np.clip(position, 0, max(len(ids) - 1, 0))
    known = ids[position] == topk.doc_ids if len(ids) else np.zeros(len(position), bool)
    X = sp.csr_array(
        (topk.stored_values[known].astype(np.float64), (position[known], topk.latents[known].astype(np.int64))),
        shape=(len(ids), sae.n_latents),
    )
    split = np.asarray(rows["split"], dtype=object)[keep]
    return ContrastData(X, emb[np.searchsorted(doc_ids, ids)], y_all[keep], split == TEST)


def run_contrast(
    path: str | Path, corpus: str, expression: str, sae_id: int | None = None, config: ContrastConfig = ContrastConfig()
) -> ContrastReport:
    started = time.perf_counter()
    phases: dict[str, float] = {}
    with open_reader(path) as con:
        sae = pick_sae(con, corpus, sae_id)
        target = parse_target(con, expression)
        data = load_contrast_data(con, sae, target)
        labels = load_catalog(con, sae.sae_id, sae.n_latents).labels
    phases["load"] = time.perf_counter() - started
    binary = target.kind == "binary"
    train, test = ~data.is_test, data.is_test
    _check_sides(target, data, train, test, binary)
    mark = time.perf_counter()
    latents, scores = select_features(
        data.X[np.flatnonzero(train)],
        data.y[train],
        config.method,
        config.n_features,
        config.min_active,
        binary,
        config.seed,
    )
    phases["select (train)"] = time.perf_counter() - mark
    if len(latents) == 0:
        raise ValueError(
            f"no feature predicts {expression!r} on the training split (none active in >= {config.min_active} "
            "training documents has a non-zero score); try --method correlation or a lower --min-active"
        )
    mark = time.perf_counter()
    X_train, X_test = data.X[np.flatnonzero(train)][:, latents], data.X[np.flatnonzero(test)][:, latents]
    effects = feature_effects(X_test, data.y[test], binary)
    together = features_score(X_train, data.y[train], X_test, data.y[test], binary)
    phases["evaluate features (test)"] = time.perf_counter() - mark
    mark = time.perf_counter()
    baseline = embedding_score(data.E[train], data.y[train], data.E[test], data.y[test], binary)
    phases["embedding baseline (test)"] = time.perf_counter() - mark
    report = ContrastReport(
        sae,
        target,
        config,
        latents,
        scores,
        effects,
        labels,
        int(train.sum()),
        int(test.sum()),
        float(data.y[train].mean()),
        float(data.y[test].mean()),
        "auc" if binary else "r2",
        together,
        baseline,
        time.perf_counter() - started,
        phases,
    )
    with open_writer(path) as con:
        store_contrast(con, report)
    return report


def _check_sides(target: Target, data: ContrastData, train: np.ndarray, test: np.ndarray, binary: bool) -> None:
    if not test.any():
        raise ValueError(
            "no document with a target value is in the test split (docs.split = 'test'); "
            "re-ingest with the current code (`just data <corpus>`) so every document gets its split"
        )
    if not train.any():
        raise ValueError(f"no document with a target value for {target.expression!r} is in the training split")
    if binary:
        for name, side in ((TRAIN, train), (TEST, test)):
            positives = int(data.y[side].sum())
            if positives == 0 or positives == int(side.sum()):
                raise ValueError(
                    f"target {target.expression!r} is {'never' if positives == 0 else 'always'} true on the "
                    f"{name} split ({int(side.sum())} documents): nothing to contrast; check the value's spelling"
                )


def store_contrast(con: duckdb.DuckDBPyConnection, report: ContrastReport) -> None:
    key = [report.sae.sae_id, report.target.expression, report.config.method]
    e = report.effects
    n = len(report.latents)
    feature_rows = pa.table(
        {
            "sae_id": pa.array(np.full(n, report.sae.sae_id, np.int32)),
            "target": pa.array([report.target.expression] * n, pa.string()),
            "method": pa.array([report.config.method] * n, pa.string()),
            "rank": pa.array(np.arange(1, n + 1, dtype=np.int32)),
            "latent": pa.array(report.latents.astype(np.int32)),
            "train_score": pa.array(report.train_scores.astype(float)),
            "n_with": pa.array(e.n_with.astype(np.int32)),
            **{
                name: pa.array(getattr(e, name), pa.float64(), from_pandas=True)
                for name in ("mean_with", "mean_without", "effect", "p_value", "q_value")
            },
        }
    )
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with transaction(con):
        con.execute("DELETE FROM contrast_features WHERE sae_id = ? AND target = ? AND method = ?", key)
        con.execute("DELETE FROM contrasts WHERE sae_id = ? AND target = ? AND method = ?", key)
        con.execute(
            "INSERT INTO contrasts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            key
            + [
                report.target.kind,
                n,
                report.n_train,
                report.n_test,
                report.train_mean,
                report.test_mean,
                report.metric,
                _finite(report.features_score),
                _finite(report.embedding_score),
                now,
            ],
        )
        insert_arrow(con, "contrast_features", feature_rows)


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None
