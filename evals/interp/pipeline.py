"""Label every feature of a stored SAE and score each label on held-out abstracts.

Two paths share example selection, metrics and storage:
- offline (default without an API key): the best phrase of the activating abstracts, or
  "(no clear concept)", scored by a proxy (``is_proxy = true``, explainer ``offline-phrases``);
- LLM: an explainer model writes a label after ``FINAL:``, a predictor model rates the held-out
  abstracts in [-1, 1]; rounds of features are written atomically, so an interrupted run resumes
  where it stopped (features already complete are skipped).
Both score a random-label baseline: another feature's label on this feature's held-out set.

Over 300 lines as one module on purpose: it is the orchestration only (rounds, resume, atomic writes);
examples, metrics, prompts, the offline and LLM explainers and storage are their own modules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from data.embed import make_embedder
from data.embed.local import LOCAL_MODEL
from data.embeddings import store_vectors
from data.progress import Stopwatch
from data.text import text_hash
from data.warehouse import open_reader, open_writer
from evals.interp.config import InterpConfig, load_interp_config
from evals.interp.examples import (
    READY,
    ROLE_CODE,
    SCORE_ROLES,
    Corpus,
    ExampleSet,
    load_activations,
    load_corpus,
    select_examples,
)
from evals.interp.llm_path import explain_round, predict_round
from evals.interp.metrics import score
from evals.interp.phrase_labels import EXPLAINER_NAME, NO_CONCEPT, PhraseLabel, explain_phrases, explanation_docs
from evals.interp.phrases import PhraseIndex
from evals.interp.proxy import PREDICTOR_NAMES, LabelScorer
from evals.interp.store import (
    FeatureResult,
    failed_attempts,
    finished_latents,
    flag_duplicates,
    stored_label_map,
    write_results,
    write_summary,
)
from evals.interp.summary import summarise
from evals.llm import LLMClient, LLMSettings, llm_available, usage_rows
from evals.saes import StoredSAE, pick_sae


@dataclass
class RunReport:
    sae_id: int
    explainer: str
    predictor: str
    is_proxy: bool
    interpreted: int
    not_interpretable: int
    """Features active on too few (or too many) abstracts for a held-out set."""
    errors: int
    skipped_done: int
    wall_s: float
    summary: dict
    usage: list[tuple] = field(default_factory=list)
    """(role, model, calls, cache hits, failures, prompt tokens, completion tokens, est. USD)."""
    phases: dict[str, float] = field(default_factory=dict)
    """Wall seconds per phase (load, select examples, explain, score, write, ...)."""


def _score_rows(examples: ExampleSet, latent: int) -> np.ndarray:
    return examples.of(latent, *SCORE_ROLES)


def _scores(examples: ExampleSet, rows: np.ndarray, ratings: np.ndarray):
    """Held-out scores, with AUROC against random and against hard negatives apart."""
    truth = examples.role[rows] == ROLE_CODE["score_pos"]
    return score(ratings[rows], truth, hard=examples.role[rows] == ROLE_CODE["score_neg_hard"])


def run_interpretation(
    warehouse: Path,
    corpus_name: str,
    *,
    sae_id: int | None = None,
    use_llm: bool | None = None,
    max_features: int | None = None,
    config: InterpConfig | None = None,
    llm_base_url: str | None = None,
) -> RunReport:
    """Interpret the features of one SAE; ``use_llm=None`` picks the LLM path iff a key or an endpoint is set."""
    config = config or load_interp_config()
    llm_base_url = llm_base_url or config.llm_path.base_url
    use_llm = llm_available(llm_base_url) if use_llm is None else use_llm
    started, clock = time.perf_counter(), Stopwatch()
    extra = 0 if use_llm else config.offline.explain_extra_positives
    extra_negatives = 0 if use_llm else config.offline.explain_extra_negatives
    explainer = config.llm_path.explainer_model if use_llm else EXPLAINER_NAME
    with clock.phase("load"), open_reader(warehouse) as con:
        sae = pick_sae(con, corpus_name, sae_id)
        done = finished_latents(con, sae.sae_id, explainer)
        corpus = load_corpus(con, sae.embed_model, config.examples.min_abstract_chars)
        activations = load_activations(con, sae.sae_id, sae.n_latents, corpus)
    # The first ``max_features`` latents, so a repeated command resumes the same set.
    wanted = sae.n_latents if max_features is None else min(max_features, sae.n_latents)
    todo = np.array([latent for latent in range(wanted) if latent not in done], dtype=np.int64)
    with clock.phase("select examples"):
        examples = select_examples(
            corpus, activations, todo, config.examples, extra_positives=extra, extra_negatives=extra_negatives
        )
    # Too rarely (or too often) active to hold out 10 + 10 abstracts: stored with that status, no label.
    rare = [FeatureResult(latent, s) for latent, s in examples.status.items() if s != READY]
    ready = np.array([latent for latent, s in examples.status.items() if s == READY], dtype=np.int64)
    if use_llm:
        predictor, is_proxy = config.llm_path.predictor_model, False
        results, usage = _run_llm(
            warehouse, corpus_name, sae, corpus, examples, ready, rare, config, llm_base_url, clock
        )
    else:
        is_proxy, usage = True, []
        predictor, results = _run_offline(warehouse, sae, corpus, examples, ready, rare, config, clock)
    with clock.phase("summarise"), open_writer(warehouse) as con:
        flag_duplicates(con, sae.sae_id, explainer)
        summary = summarise(con, sae.sae_id, explainer, config.clean)
        summary["wall_s_last_run"] = round(time.perf_counter() - started, 1)
        write_summary(con, sae.sae_id, explainer, summary)  # the stored card covers every latent
        if max_features is not None:  # what was asked for: latents 0..max_features-1
            summary = summarise(con, sae.sae_id, explainer, config.clean, below=wanted)
    return RunReport(
        sae_id=sae.sae_id,
        explainer=explainer,
        predictor=predictor,
        is_proxy=is_proxy,
        interpreted=sum(r.status == "complete" for r in results),
        not_interpretable=len(rare),
        errors=sum(r.status == "error" for r in results),
        skipped_done=len(done),
        wall_s=time.perf_counter() - started,
        summary=summary,
        usage=usage,
        phases=clock.seconds,
    )


def _run_offline(
    warehouse: Path,
    sae: StoredSAE,
    corpus: Corpus,
    examples: ExampleSet,
    ready: np.ndarray,
    rare: list[FeatureResult],
    config: InterpConfig,
    clock: Stopwatch,
) -> tuple[str, list[FeatureResult]]:
    offline = config.offline
    # The embedding part needs the label in the corpus's embedding space: only the local model is offline.
    scorer = offline.scorer if sae.embed_model == LOCAL_MODEL else "terms"
    predictor = PREDICTOR_NAMES[scorer]
    predictions = np.full(len(examples.latent), np.nan)
    results: list[FeatureResult] = list(rare)
    if len(ready):
        with clock.phase("explain (phrases)"):
            index = PhraseIndex.build(corpus.texts, offline.max_phrase_words)
            embedder = make_embedder("local", LOCAL_MODEL) if scorer != "terms" else None
            label_scorer = LabelScorer(scorer, corpus, index, embedder, offline.term_weight)
            labels = explain_phrases(
                index,
                [explanation_docs(examples, latent) for latent in ready.tolist()],
                offline,
                label_scorer,
                np.random.default_rng([config.examples.seed, 5]),
            )
        with clock.phase("score (proxy)"):
            named = np.array([label.named for label in labels])
            ratings, baseline = label_scorer.ratings(
                examples,
                ready[named],
                [label.label for label in labels if label.named],
                np.random.default_rng([config.examples.seed, 7]),
            )
            results += _offline_results(examples, ready, labels, ratings, baseline, predictions, predictor)
    with clock.phase("write"), open_writer(warehouse) as con:
        write_results(
            con, sae.sae_id, EXPLAINER_NAME, predictor, True, results, examples, predictions, corpus, config.clean
        )
        if len(ready) and embedder is not None:  # `just report` scores these labels again: cache their vectors
            texts = sorted({label.label for label in labels if label.named})
            if texts:
                embedded, _ = label_scorer.vectors(texts)
                store_vectors(con, LOCAL_MODEL, [text_hash(text) for text in texts], np.asarray(embedded))
    return predictor, results


def _offline_results(
    examples: ExampleSet,
    ready: np.ndarray,
    labels: list[PhraseLabel],
    ratings: np.ndarray,
    baseline: np.ndarray | None,
    predictions: np.ndarray,
    predictor: str,
) -> list[FeatureResult]:
    """One result per ready feature; a "(no clear concept)" feature keeps its rejected candidate in the reasoning."""
    results = []
    for latent, label in zip(ready.tolist(), labels, strict=False):
        check = (
            f"check half: AUROC {label.check[0]:.2f} vs random, {label.check[1]:.2f} vs hard negatives; "
            f"another feature's label {label.baseline[0]:.2f} / {label.baseline[1]:.2f}"
        )
        if not label.named:
            why = (
                f"best candidate {label.candidate!r} does not beat the other-label baseline ({check})"
                if label.candidate
                else "no specific phrase is shared by enough activating abstracts"
            )
            results.append(FeatureResult(latent, "complete", label=NO_CONCEPT, reasoning=why))
            continue
        rows = _score_rows(examples, latent)
        predictions[rows] = ratings[rows]
        results.append(
            FeatureResult(
                latent,
                "complete",
                label=label.label,
                reasoning=f"best of the phrases of the activating explanation abstracts (select half: mean AUROC "
                f"{label.select_score:.2f}); {check}; scored by {predictor}",
                scores=_scores(examples, rows, ratings),
                baseline=_scores(examples, rows, baseline) if baseline is not None else None,
            )
        )
    return results


def _run_llm(
    warehouse: Path,
    corpus_name: str,
    sae: StoredSAE,
    corpus: Corpus,
    examples: ExampleSet,
    ready: np.ndarray,
    rare: list[FeatureResult],
    config: InterpConfig,
    base_url: str | None,
    clock: Stopwatch,
):
    settings = config.llm_path
    cache = partial(open_writer, warehouse)  # short-lived connections for the cache
    clients = {
        role: LLMClient(
            LLMSettings(
                model=model,
                base_url=base_url,
                max_concurrency=settings.max_concurrency,
                timeout_s=settings.timeout_s,
                max_retries=settings.max_retries,
            ),
            cache,
        )
        for role, model in (("explainer", settings.explainer_model), ("predictor", settings.predictor_model))
    }
    with open_reader(warehouse) as con:
        stored_labels = stored_label_map(con, sae.sae_id, settings.explainer_model)
        retry_tags = failed_attempts(con, sae.sae_id, settings.explainer_model)
    label_scorer = None
    if settings.candidates > 1 and len(ready):  # candidates are compared by the offline proxy on explanation examples
        scorer = config.offline.scorer if sae.embed_model == LOCAL_MODEL else "terms"
        label_scorer = LabelScorer(
            scorer,
            corpus,
            PhraseIndex.build(corpus.texts, config.offline.max_phrase_words),
            make_embedder("local", LOCAL_MODEL) if scorer != "terms" else None,
            config.offline.term_weight,
        )
    all_results: list[FeatureResult] = []
    pending_rare = list(rare)
    rounds = [
        ready[i : i + settings.features_per_batch] for i in range(0, len(ready), settings.features_per_batch)
    ] or [ready]
    for round_latents in rounds:
        with clock.phase("explain (LLM)"):
            results = explain_round(
                clients["explainer"],
                corpus_name,
                corpus,
                examples,
                round_latents,
                settings,
                config.examples.seed,
                retry_tags,
                label_scorer,
            )
        with clock.phase("score (LLM)"):
            predictions = predict_round(
                clients["predictor"],
                corpus_name,
                corpus,
                examples,
                results,
                settings,
                config.examples.seed,
                stored_labels,
            )
        with clock.phase("write"), open_writer(warehouse) as con:
            write_results(
                con,
                sae.sae_id,
                settings.explainer_model,
                settings.predictor_model,
                False,
                pending_rare + results,
                examples,
                predictions,
                corpus,
                config.clean,
            )
        all_results += results
        pending_rare = []
        stored_labels.update({r.latent: r.label for r in results if r.status == "complete" and r.label is not None})
    return list(rare) + all_results, list(usage_rows(clients))
