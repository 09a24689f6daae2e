"""One round of the LLM path: explain a batch of features, then rate their held-out abstracts.

Each feature's held-out abstracts are shuffled (seeded) and rated a few per request, once with
its own label and once with another feature's label (the random-label baseline). Unreadable
answers and failed requests leave NaN ratings that are counted, stored as NULL, never scored.
"""

from __future__ import annotations

import numpy as np
import openai

from evals.interp.config import LLMPathConfig
from evals.interp.examples import ROLE_CODE, SCORE_ROLES, Corpus, ExampleSet
from evals.interp.metrics import score
from evals.interp.phrase_labels import NO_CONCEPT, explanation_docs
from evals.interp.prompts import (
    CANDIDATES_SCHEMA,
    explain_messages,
    filtered_label,
    parse_candidates,
    parse_ratings,
    predict_messages,
)
from evals.interp.proxy import LabelScorer
from evals.interp.store import FeatureResult
from evals.llm import LLMClient


def explain_round(
    client: LLMClient,
    corpus_name: str,
    corpus: Corpus,
    examples: ExampleSet,
    latents: np.ndarray,
    settings: LLMPathConfig,
    seed: int,
    retry_tags: dict[int, str],
    label_scorer: LabelScorer | None,
) -> list[FeatureResult]:
    """Labels for ``latents``; ``retry_tags`` marks features whose stored answer was unusable (ask anew).

    The explainer writes ``settings.candidates`` labels per feature; generic ones are filtered out
    (the paper's filter) and the rest scored on the feature's explanation examples by
    ``label_scorer`` (the offline proxy), the best kept. The held-out examples play no part.
    """
    requests = []
    for latent in latents.tolist():
        positive = examples.of(latent, "explain_pos")
        positive = positive[np.argsort(-examples.activation[positive], kind="stable")]
        negative = np.random.default_rng([seed, latent, 2]).permutation(
            examples.of(latent, "explain_neg_random", "explain_neg_hard")
        )
        requests.append(
            explain_messages(
                corpus_name,
                [(float(examples.activation[r]), corpus.texts[examples.doc_index[r]]) for r in positive],
                [corpus.texts[examples.doc_index[r]] for r in negative],
                settings.max_abstract_chars,
                settings.candidates,
            )
        )
    answers = _ask(client, requests, [retry_tags.get(latent, "") for latent in latents.tolist()], settings)
    results = []
    for latent, answer in zip(latents.tolist(), answers, strict=False):
        if isinstance(answer, Exception):
            results.append(FeatureResult(latent, "error", error=f"explainer request failed: {answer}"[:2000]))
            continue
        candidates = parse_candidates(answer.text)
        if not candidates:
            results.append(
                FeatureResult(
                    latent,
                    "error",
                    reasoning=answer.text,
                    parse_failures=1,
                    error="explainer answer has no readable label (JSON candidates or `FINAL: <label>`)",
                )
            )
            continue
        specific = [c for c in (filtered_label(c) for c in candidates) if c]
        if not specific:
            results.append(
                FeatureResult(
                    latent,
                    "complete",
                    label=NO_CONCEPT,
                    reasoning=f"{answer.text}\n\nevery candidate is generic: {candidates}",
                )
            )
            continue
        label, note = _best_candidate(latent, specific, examples, label_scorer)
        results.append(FeatureResult(latent, "complete", label=label, reasoning=f"{answer.text}\n\n{note}"))
    return results


def _ask(client: LLMClient, requests: list, tags: list[str], settings: LLMPathConfig) -> list:
    """The explainer's answers, as structured output where the server takes it, plain text otherwise."""
    if settings.candidates == 1 or settings.structured_output == "none":
        return client.complete_many(requests, cache_tag=tags)
    answers = client.complete_many(requests, cache_tag=tags, response_format=CANDIDATES_SCHEMA)
    refused = [i for i, a in enumerate(answers) if isinstance(a, openai.BadRequestError)]
    if refused:  # a server without structured output: the prompt asks for JSON or FINAL lines anyway
        again = client.complete_many([requests[i] for i in refused], cache_tag=[tags[i] for i in refused])
        for i, answer in zip(refused, again, strict=False):
            answers[i] = answer
    return answers


def _best_candidate(
    latent: int, candidates: list[str], examples: ExampleSet, label_scorer: LabelScorer | None
) -> tuple[str, str]:
    """The candidate whose proxy AUROC (positives vs random and vs hard negatives, averaged) on the
    explanation examples is highest, and a note of every candidate's score."""
    if len(candidates) == 1 or label_scorer is None:
        return candidates[0], f"kept the first of the candidates {candidates}"
    docs = explanation_docs(examples, latent)
    vectors = label_scorer.vectors(candidates)
    scores = []
    for row in range(len(candidates)):
        every = np.r_[docs.positives, docs.random, docs.hard]
        similarity = label_scorer.similarities(vectors, np.full(len(every), row), every)
        truth = np.r_[np.ones(len(docs.positives), bool), np.zeros(len(docs.random) + len(docs.hard), bool)]
        hard = np.r_[np.zeros(len(docs.positives) + len(docs.random), bool), np.ones(len(docs.hard), bool)]
        s = score(similarity, truth, hard=hard)
        scores.append(np.nanmean([s.auroc_random, s.auroc_hard]))
    best = int(np.nanargmax(scores)) if not np.isnan(scores).all() else 0
    listed = "; ".join(f"{c!r} {v:.2f}" for c, v in zip(candidates, scores, strict=False))
    return candidates[
        best
    ], f"candidates by mean AUROC on the explanation examples ({label_scorer.scorer} proxy): {listed}"


def predict_round(
    client: LLMClient,
    corpus_name: str,
    corpus: Corpus,
    examples: ExampleSet,
    results: list[FeatureResult],
    settings: LLMPathConfig,
    seed: int,
    stored_labels: dict[int, str],
) -> np.ndarray:
    """Rate every labelled feature's held-out set; fills scores in ``results``; returns per-row ratings.

    The baseline label of a feature is another feature's label, drawn (seeded) from this round's
    labels and those stored by earlier runs.
    """
    labelled = [r for r in results if r.status == "complete" and r.label != NO_CONCEPT]
    pool = {**{k: v for k, v in stored_labels.items() if v != NO_CONCEPT}, **{r.latent: r.label for r in labelled}}
    baseline_of = {}
    for result in labelled:
        others = sorted(latent for latent in pool if latent != result.latent)
        if others:
            pick = np.random.default_rng([seed, result.latent, 7]).choice(others)
            baseline_of[result.latent] = pool[int(pick)]
    requests, targets = [], []  # targets: (kind, example rows in request order)
    for result in labelled:
        rows = np.random.default_rng([seed, result.latent, 3]).permutation(examples.of(result.latent, *SCORE_ROLES))
        for kind, label in (("label", result.label), ("baseline", baseline_of.get(result.latent))):
            if label is None:
                continue
            for start in range(0, len(rows), settings.abstracts_per_prediction):
                chunk = rows[start : start + settings.abstracts_per_prediction]
                requests.append(
                    predict_messages(
                        corpus_name,
                        label,
                        [corpus.texts[examples.doc_index[r]] for r in chunk],
                        settings.max_abstract_chars,
                    )
                )
                targets.append((kind, chunk))
    answers = client.complete_many(requests)
    ratings = {"label": np.full(len(examples.latent), np.nan), "baseline": np.full(len(examples.latent), np.nan)}
    for (kind, chunk), answer in zip(targets, answers, strict=False):
        if not isinstance(answer, Exception):
            ratings[kind][chunk] = parse_ratings(answer.text, len(chunk))
    for result in labelled:
        rows = examples.of(result.latent, *SCORE_ROLES)
        truth = examples.role[rows] == ROLE_CODE["score_pos"]
        hard = examples.role[rows] == ROLE_CODE["score_neg_hard"]
        result.parse_failures = int(np.isnan(ratings["label"][rows]).sum())
        result.scores = score(ratings["label"][rows], truth, hard=hard)
        if result.latent in baseline_of:
            result.baseline = score(ratings["baseline"][rows], truth, hard=hard)
    return ratings["label"]
