"""The quality card of one SAE: every number on the test split unless its name says otherwise.

``build_report`` computes it from the warehouse (one read-only pass), stores it in
``eval_summaries`` (eval = 'report', so the dashboard shows it without recomputing) and returns it
as one flat-topped dict; a metric that could not be computed is None with its reason in
``reasons``. ``format_card`` renders it as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from data.embeddings import store_vectors
from data.progress import phases
from data.warehouse import open_reader, open_writer, transaction
from evals.fidelity import fidelity_of_test_queries
from evals.interp.config import InterpConfig, load_interp_config
from evals.report.coherence import coherence_section
from evals.report.inputs import ReportInputs, load_inputs
from evals.report.labels import label_section, stored_labels, stored_scores_off_test
from evals.report.reconstruction import reconstruction_section
from evals.report.steering import steering_digest
from evals.saes import pick_sae

EVAL_NAME = "report"

REQUIRED_KEYS = (
    "sae_id",
    "test_fvu",
    "train_fvu",
    "dead_fraction",
    "coherence_median",
    "coherence_random",
    "coherence_neighbours",
    "label_auroc_random_median",
    "label_auroc_hard_median",
    "label_baseline_auroc_random_median",
    "label_beats_baseline_fraction",
    "fidelity_test_recall10",
    "n_test_docs",
    "n_train_docs",
)
"""The keys `just report --json` always prints (None when not computed, with a reason)."""

LABEL_KEYS = (
    "label_auroc_random_median",
    "label_auroc_hard_median",
    "label_baseline_auroc_random_median",
    "label_baseline_auroc_hard_median",
    "label_beats_baseline_fraction",
    "label_beats_baseline_hard_fraction",
)


@dataclass(frozen=True)
class ReportConfig:
    top_docs: int = 10
    """Coherence: a feature's top documents (and the size of the random and neighbour sets)."""
    baseline_draws: int = 1000
    """Coherence scale: random sets and anchor documents drawn."""
    hard_negatives: int = 20
    """Labels: non-activating test documents nearest a feature's positives."""
    min_positives: int = 5
    """Labels: features active on fewer test documents are not scored."""
    dense_density: float = 0.1
    """A latent active on more than this share of test documents is dense."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.top_docs < 2 or self.hard_negatives < 1 or self.min_positives < 1 or self.baseline_draws < 1:
            raise ValueError(
                f"report settings need top_docs >= 2 and hard_negatives, min_positives, baseline_draws >= 1: {self}"
            )


def build_report(
    path: str | Path,
    corpus: str,
    sae_id: int | None = None,
    config: ReportConfig = ReportConfig(),
    interp: InterpConfig | None = None,
) -> dict:
    """Compute, store and return the quality card of ``sae_id`` (default: the corpus's newest complete SAE)."""
    interp = interp or load_interp_config()
    reasons: dict[str, str] = {}
    # Six phases: load, reconstruction, coherence, labels, fidelity, steering.
    with phases("quality card", total=6) as clock, open_reader(path) as con:
        with clock.phase("load"):
            sae = pick_sae(con, corpus, sae_id)
            inputs = load_inputs(con, sae)
        n_test = int(inputs.in_test.sum())
        if n_test == 0:
            raise ValueError(
                f"corpus {corpus!r} has no test-split document encoded by SAE {sae.sae_id}; every number of "
                "the card is on the test split (see `test_fraction` in conf/corpus/<corpus>.yaml)"
            )
        report: dict = {
            "sae_id": sae.sae_id,
            "corpus": sae.corpus,
            "name": sae.name,
            "n_latents": sae.n_latents,
            "k": sae.k,
            "n_test_docs": n_test,
            "n_train_docs": int(len(inputs.doc_ids) - n_test),
        }
        with clock.phase("reconstruction"):
            report.update(reconstruction_section(inputs, config.dense_density))
        for key in ("train_fvu", "val_fvu"):
            if report[key] is None:
                reasons[key] = f"SAE {sae.sae_id}'s saes.metrics has no {key} (trained before the test split)"
        with clock.phase("coherence"):
            report.update(
                coherence_section(
                    inputs.embeddings,
                    inputs.codes,
                    inputs.in_test,
                    inputs.levels,
                    config.top_docs,
                    config.baseline_draws,
                    config.seed,
                )
            )
        if n_test < config.top_docs:
            too_few = (
                f"the test split holds {n_test} encoded documents, fewer than the {config.top_docs} of a coherence "
                f"set; add documents to corpus {corpus!r} or raise its test_fraction (conf/corpus/<corpus>.yaml)"
            )
            reasons.update(dict.fromkeys(("coherence_median", "coherence_random", "coherence_neighbours"), too_few))
        elif report["coherence_median"] is None:
            reasons["coherence_median"] = f"no latent is active on {config.top_docs} or more test documents"
        with clock.phase("labels"):
            labels = stored_labels(con, sae.sae_id)
            section, new_vectors, reason = label_section(
                con, inputs, labels, interp, config.hard_negatives, config.min_positives, config.seed
            )
            report.update(section)
            report["clean_count"] = int(labels.clean.sum()) if len(labels.latent) else None  # interp's stored verdicts
            off_test = stored_scores_off_test(con, sae.sae_id)
        if reason:
            reasons.update({key: reason for key in LABEL_KEYS})
        if report["clean_count"] is None and reason:
            reasons["clean_count"] = reason
        with clock.phase("fidelity"):
            report.update(_fidelity(inputs))
        with clock.phase("steering"):
            report["steering"] = steering_digest(con, sae.sae_id)
        if report["steering"] is None:
            reasons["steering"] = f"not run: `just steer-bench {sae.corpus} --sae-id {sae.sae_id}`"
    for key in (*REQUIRED_KEYS, *LABEL_KEYS):
        report.setdefault(key, None)
    report["warnings"] = _warnings(inputs, n_test, off_test)
    report["reasons"] = reasons
    report["seconds"] = {name: round(seconds, 2) for name, seconds in clock.seconds.items()}
    with open_writer(path) as con:
        if new_vectors.hashes:
            store_vectors(con, new_vectors.model, new_vectors.hashes, new_vectors.vectors)
        store_report(con, sae.sae_id, report)
    return report


def _fidelity(inputs: ReportInputs) -> dict:
    test = inputs.test_rows
    every, tests_only = fidelity_of_test_queries(inputs.embeddings, inputs.reconstructions, test, test)
    return {
        "fidelity_queries": every.n_queries,
        "fidelity_all_recall10": every.recall,
        "fidelity_all_ndcg10": every.ndcg,
        "fidelity_test_recall10": tests_only.recall,
        "fidelity_test_ndcg10": tests_only.ndcg,
    }


def _warnings(inputs: ReportInputs, n_test: int, off_test: int) -> list[str]:
    sae, metrics, found = inputs.sae, inputs.metrics, []
    if "test_docs" not in metrics:
        found.append(
            f"SAE {sae.sae_id} was trained before the test split existed (no test_docs in saes.metrics): it "
            "trained on the test documents, so nothing on this card is held out; train a new SAE"
        )
    elif metrics["test_docs"] != n_test:
        found.append(f"the trainer held out {metrics['test_docs']} test documents, this card reads {n_test}")
    if inputs.not_encoded:
        found.append(
            f"{inputs.not_encoded} documents have an embedding but no activation of SAE {sae.sae_id} "
            "(ingested after it was trained); they are left out"
        )
    if off_test:
        found.append(
            f"{off_test} held-out examples of the stored labels are not test documents (labelled before the "
            "test split): the clean count rests on those scores; interpret the SAE again to replace them"
        )
    return found


def store_report(con, sae_id: int, report: dict) -> None:
    with transaction(con):
        con.execute("DELETE FROM eval_summaries WHERE sae_id = ? AND eval = ?", [sae_id, EVAL_NAME])
        con.execute("INSERT INTO eval_summaries VALUES (?, ?, ?, now())", [sae_id, EVAL_NAME, json.dumps(report)])


def stored_report(con, sae_id: int) -> dict | None:
    rows = con.execute(
        "SELECT summary FROM eval_summaries WHERE sae_id = ? AND eval = ?", [sae_id, EVAL_NAME]
    ).fetchall()
    return json.loads(rows[0][0]) if rows else None
