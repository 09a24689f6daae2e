"""One round of the LLM path: explain a batch of features, then rate their held-out abstracts.

Each feature's held-out abstracts are shuffled (seeded) and rated a few per request, once with
its own label and once with another feature's label (the random-label baseline). Unreadable
answers and failed requests leave NaN ratings that are counted, stored as NULL, never scored.
"""
from __future__ import annotations

import numpy as np

from evals.interp.config import LLMPathConfig
from evals.interp.examples import ROLE_CODE, SCORE_ROLES, Corpus, ExampleSet
from evals.interp.metrics import score
from evals.interp.prompts import explain_messages, parse_label, parse_ratings, predict_messages
from evals.interp.store import FeatureResult
from evals.llm import LLMClient


def explain_round(client: LLMClient, corpus_name: str, corpus: Corpus, examples: ExampleSet, latents: np.ndarray,
                  settings: LLMPathConfig, seed: int, retry_tags: dict[int, str]) -> list[FeatureResult]:
    """Labels for ``latents``; ``retry_tags`` marks features whose stored answer was unusable (ask anew)."""
    requests = []
    for latent in latents.tolist():
        positive = examples.of(latent, "explain_pos")
        positive = positive[np.argsort(-examples.activation[positive], kind="stable")]
        negative = np.random.default_rng([seed, latent, 2]).permutation(
            examples.of(latent, "explain_neg_random", "explain_neg_hard"))
        requests.append(explain_messages(
            corpus_name,
            [(float(examples.activation[r]), corpus.texts[examples.doc_index[r]]) for r in positive],
            [corpus.texts[examples.doc_index[r]] for r in negative],
            settings.max_abstract_chars,
        ))
    answers = client.complete_many(requests, cache_tag=[retry_tags.get(latent, "") for latent in latents.tolist()])
    results = []
    for latent, answer in zip(latents.tolist(), answers):
        if isinstance(answer, Exception):
            results.append(FeatureResult(latent, "error", error=f"explainer request failed: {answer}"[:2000]))
            continue
        label = parse_label(answer.text)
        if label is None:
            results.append(FeatureResult(latent, "error", reasoning=answer.text,
                                         error="explainer answer has no `FINAL: <label>` line", parse_failures=1))
        else:
            results.append(FeatureResult(latent, "complete", label=label, reasoning=answer.text))
    return results


def predict_round(client: LLMClient, corpus_name: str, corpus: Corpus, examples: ExampleSet,
                  results: list[FeatureResult], settings: LLMPathConfig, seed: int,
                  stored_labels: dict[int, str]) -> np.ndarray:
    """Rate every labelled feature's held-out set; fills scores in ``results``; returns per-row ratings.

    The baseline label of a feature is another feature's label, drawn (seeded) from this round's
    labels and those stored by earlier runs.
    """
    labelled = [r for r in results if r.status == "complete"]
    pool = {**stored_labels, **{r.latent: r.label for r in labelled}}
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
                chunk = rows[start:start + settings.abstracts_per_prediction]
                requests.append(predict_messages(corpus_name, label, [corpus.texts[examples.doc_index[r]] for r in chunk],
                                                 settings.max_abstract_chars))
                targets.append((kind, chunk))
    answers = client.complete_many(requests)
    ratings = {"label": np.full(len(examples.latent), np.nan), "baseline": np.full(len(examples.latent), np.nan)}
    for (kind, chunk), answer in zip(targets, answers):
        if not isinstance(answer, Exception):
            ratings[kind][chunk] = parse_ratings(answer.text, len(chunk))
    for result in labelled:
        rows = examples.of(result.latent, *SCORE_ROLES)
        truth = examples.role[rows] == ROLE_CODE["score_pos"]
        result.parse_failures = int(np.isnan(ratings["label"][rows]).sum())
        result.scores = score(ratings["label"][rows], truth)
        if result.latent in baseline_of:
            result.baseline = score(ratings["baseline"][rows], truth)
    return ratings["label"]
