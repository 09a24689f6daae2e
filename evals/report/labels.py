"""Labels on the test split: does a feature's stored label pick out the test documents it fires on?

The scorer is interpretation's offline proxy (evals/interp/proxy.py, ``offline.scorer``), whoever
wrote the label (an LLM or the phrase explainer): by default the cosine between the label text's
embedding and a document's embedding plus the term match of the label's words (corpora embedded
with another model than the local MiniLM: term match only). Labels "(no clear concept)" are not scored. Per labelled
feature active on at least ``min_positives`` test documents, with its positives = every test
document it fires on:
- AUROC against random negatives: every test document it does not fire on (the expectation of a
  random sample, without the sampling noise);
- AUROC against hard negatives: the ``hard_negatives`` non-activating test documents nearest to
  the mean embedding of its positives;
- each next to its baseline: the same documents scored with another feature's label (a fixed
  derangement of the labelled features), so 'the label says something specific' is measured
  against 'the label sounds like this corpus'.
Label vectors are kept in the warehouse's embedding cache (keyed by the label's text hash, like
documents), so only new labels are embedded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

from data.embed import make_embedder
from data.embed.local import LOCAL_MODEL
from data.text import text_hash
from evals.interp.config import InterpConfig
from evals.interp.examples import derangement, load_corpus
from evals.interp.metrics import auroc
from evals.interp.phrase_labels import NO_CONCEPT
from evals.interp.phrases import PhraseIndex
from evals.interp.proxy import PREDICTOR_NAMES, LabelScorer
from evals.report.inputs import ReportInputs


@dataclass
class StoredLabels:
    """The best label of each labelled latent (the ``best_labels`` view) and its stored clean flag."""

    latent: np.ndarray
    label: list[str]
    explainer: list[str]
    clean: np.ndarray


def stored_labels(con: duckdb.DuckDBPyConnection, sae_id: int) -> StoredLabels:
    # A feature labelled "(no clear concept)" names nothing: it is not scored as if it did.
    rows = con.execute(
        "SELECT latent, label, explainer, coalesce(clean, false) FROM best_labels WHERE sae_id = ? "
        "AND label <> ? ORDER BY latent",
        [sae_id, NO_CONCEPT],
    ).fetchall()
    return StoredLabels(
        np.array([r[0] for r in rows], dtype=np.int64),
        [r[1] for r in rows],
        [r[2] for r in rows],
        np.array([r[3] for r in rows], dtype=bool),
    )


@dataclass
class NewLabelVectors:
    """Label embeddings computed by this report, to be added to the embedding cache."""

    model: str = LOCAL_MODEL
    hashes: list[str] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


def cached_vectors(con: duckdb.DuckDBPyConnection, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
    table = con.sql(
        "SELECT text_hash, vec FROM embeddings WHERE model = ? AND text_hash IN (SELECT unnest(?::VARCHAR[]))",
        params=[model, sorted(set(hashes))],
    ).to_arrow_table()
    if table.num_rows == 0:
        return {}
    vectors = table.column("vec").combine_chunks()
    matrix = vectors.flatten().to_numpy().reshape(table.num_rows, -1).astype(np.float32)
    return dict(zip(table.column("text_hash").to_pylist(), matrix, strict=False))


def embedded_labels(con: duckdb.DuckDBPyConnection, labels: list[str]) -> tuple[np.ndarray, NewLabelVectors]:
    """MiniLM vectors of ``labels``: from the cache where present, embedded (and returned for caching) otherwise."""
    hashes = [text_hash(label) for label in labels]
    known = cached_vectors(con, LOCAL_MODEL, hashes)
    missing = sorted({h: label for h, label in zip(hashes, labels, strict=False) if h not in known}.items())
    new = NewLabelVectors()
    if missing:
        fresh = make_embedder("local", LOCAL_MODEL).embed([label for _, label in missing])
        new = NewLabelVectors(LOCAL_MODEL, [h for h, _ in missing], np.asarray(fresh, dtype=np.float32))
        known.update(zip(new.hashes, new.vectors, strict=False))
    return np.stack([known[h] for h in hashes]), new


def label_section(
    con: duckdb.DuckDBPyConnection,
    inputs: ReportInputs,
    labels: StoredLabels,
    interp: InterpConfig,
    hard_negatives: int,
    min_positives: int,
    seed: int,
) -> tuple[dict, NewLabelVectors, str | None]:
    """The label numbers, the label vectors to cache, and the reason when nothing could be scored."""
    test = inputs.test_rows
    active = inputs.codes[test].tocsc()
    positives_of = {
        int(latent): active.indices[active.indptr[latent] : active.indptr[latent + 1]] for latent in labels.latent
    }
    scored = np.array(
        [i for i, latent in enumerate(labels.latent) if len(positives_of[int(latent)]) >= min_positives],
        dtype=np.int64,
    )
    section = {
        "labels_stored": len(labels.latent),
        "labels_scored": int(len(scored)),
        "label_hard_negatives": hard_negatives,
        "label_min_test_positives": min_positives,
        "label_explainers": {e: labels.explainer.count(e) for e in sorted(set(labels.explainer))},
    }
    if len(labels.latent) == 0:
        return (
            section,
            NewLabelVectors(),
            f"no stored labels for SAE {inputs.sae.sae_id}: run `just interpret {inputs.sae.corpus}`",
        )
    if len(scored) < 2:
        return (
            section,
            NewLabelVectors(),
            (
                f"{len(scored)} labelled feature(s) fire on at least {min_positives} test documents; "
                "at least 2 are needed (one for the other-label baseline)"
            ),
        )
    # The same scorer choice as interpretation: the embedding proxy needs the corpus's own (local) model.
    scorer = interp.offline.scorer if inputs.sae.embed_model == LOCAL_MODEL else "terms"
    section["label_scorer"] = PREDICTOR_NAMES[scorer]
    texts = [labels.label[i] for i in scored]
    corpus = load_corpus(con, inputs.sae.embed_model, 0)  # interp's view of the corpus: unit vectors, texts
    test_docs = np.searchsorted(corpus.doc_ids, inputs.doc_ids[test])
    new = NewLabelVectors()
    label_scorer = LabelScorer(
        scorer,
        corpus,
        PhraseIndex.build(corpus.texts, interp.offline.max_phrase_words),
        term_weight=interp.offline.term_weight,
    )
    if scorer != "terms":
        embedded, new = embedded_labels(con, texts)
        label_scorer.remember(texts, embedded)
    similarity = label_scorer.similarity_matrix(label_scorer.vectors(texts), test_docs)  # (test docs, scored labels)
    hard = _hard_negatives(
        corpus.embeddings[test_docs], [positives_of[int(labels.latent[i])] for i in scored], hard_negatives
    )
    borrowed = derangement(len(scored), np.random.default_rng([seed, 7]))
    results = np.full((len(scored), 4), np.nan)  # label random, label hard, baseline random, baseline hard
    for row, i in enumerate(scored):
        positives = positives_of[int(labels.latent[i])]
        truth = np.zeros(len(test), dtype=bool)
        truth[positives] = True
        hard_set = np.r_[positives, hard[row]]
        hard_truth = np.r_[np.ones(len(positives), dtype=bool), np.zeros(len(hard[row]), dtype=bool)]
        for column, label_row in ((0, row), (2, borrowed[row])):
            results[row, column] = auroc(similarity[:, label_row], truth)
            results[row, column + 1] = auroc(similarity[hard_set, label_row], hard_truth)
    medians = np.nanmedian(results, axis=0).tolist()
    section.update(
        {
            "label_auroc_random_median": medians[0],
            "label_auroc_hard_median": medians[1],
            "label_baseline_auroc_random_median": medians[2],
            "label_baseline_auroc_hard_median": medians[3],
            "label_beats_baseline_fraction": float(np.mean(results[:, 0] > results[:, 2])),
            "label_beats_baseline_hard_fraction": float(np.mean(results[:, 1] > results[:, 3])),
        }
    )
    return section, new, None


def stored_scores_off_test(con: duckdb.DuckDBPyConnection, sae_id: int) -> int:
    """Held-out examples of stored labels that are not test documents (labels scored before the test split)."""
    return con.execute(
        "SELECT count(*) FROM interp_examples e JOIN docs d USING (doc_id) "
        "WHERE e.sae_id = ? AND e.role LIKE 'score%' AND d.split <> 'test'",
        [sae_id],
    ).fetchall()[0][0]


def _hard_negatives(unit: np.ndarray, positives: list[np.ndarray], count: int, chunk: int = 512) -> list[np.ndarray]:
    """Per feature, the (up to) ``count`` rows of ``unit`` nearest its positives' mean that are not positives."""
    take = min(count, len(unit) - 1)
    found: list[np.ndarray] = []
    for start in range(0, len(positives), chunk):
        block = positives[start : start + chunk]
        similarity = np.stack([unit[rows].mean(axis=0) for rows in block]) @ unit.T
        for i, rows in enumerate(block):
            similarity[i, rows] = -np.inf
        nearest = np.argpartition(-similarity, take - 1, axis=1)[:, :take]
        found += [row[np.isfinite(similarity[i, row])] for i, row in enumerate(nearest)]
    return found
