"""Scores of a label's predictions against held-out truth (pure numpy).

``truth`` is 1 for an abstract on which the feature is active and 0 otherwise; ``prediction`` is
the predictor's rating in [-1, 1] (> 0 means "active"). Undefined scores (one class only, or
constant predictions for Pearson) are NaN, never a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def _pair(prediction, truth) -> tuple[np.ndarray, np.ndarray]:
    prediction = np.asarray(prediction, dtype=np.float64)
    truth = np.asarray(truth).astype(bool)
    if prediction.shape != truth.shape or prediction.ndim != 1:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} must be 1-d of equal length")
    return prediction, truth


def pearson(prediction, truth) -> float:
    """The paper's Pearson r between the ratings and the 1/0 truth."""
    prediction, truth = _pair(prediction, truth)
    x = prediction - prediction.mean()
    y = truth - truth.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def f1(prediction, truth) -> float:
    """F1 of ``prediction > 0`` (the paper's binarisation); NaN without positives in truth."""
    prediction, truth = _pair(prediction, truth)
    predicted = prediction > 0
    true_positive = float((predicted & truth).sum())
    if not truth.any():
        return float("nan")
    return 2 * true_positive / (predicted.sum() + truth.sum())


def balanced_accuracy(prediction, truth) -> float:
    """(TPR + TNR) / 2 of ``prediction > 0``; chance is 0.5 whatever the class balance."""
    prediction, truth = _pair(prediction, truth)
    if truth.all() or not truth.any():
        return float("nan")
    predicted = prediction > 0
    return float(((predicted & truth).sum() / truth.sum() + (~predicted & ~truth).sum() / (~truth).sum()) / 2)


def auroc(prediction, truth) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties count half."""
    prediction, truth = _pair(prediction, truth)
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(prediction)
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank (Mann-Whitney)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2  # mean of 1-based ranks start+1 .. end
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def column_aurocs(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """AUROC of every column: (n_pos, C) scores of positives against (n_neg, C) of negatives."""
    n_pos, n_neg = len(positive), len(negative)
    if n_pos == 0 or n_neg == 0:
        return np.full(positive.shape[1], np.nan)
    ranks = rankdata(np.vstack([positive, negative]), axis=0)
    return (ranks[:n_pos].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@dataclass(frozen=True)
class Scores:
    pearson: float
    f1: float
    auroc: float
    balanced_accuracy: float
    n_scored: int
    auroc_random: float = float("nan")
    """AUROC of the positives against the random negatives only."""
    auroc_hard: float = float("nan")
    """AUROC of the positives against the hard (nearest non-activating) negatives only."""


def score(prediction, truth, hard=None) -> Scores:
    """All scores over the examples that have a prediction (NaN predictions are dropped).

    ``hard`` marks the hard negatives; with it, AUROC against random and against hard negatives
    are reported separately (without it both are NaN).
    """
    prediction, truth = _pair(prediction, truth)
    keep = ~np.isnan(prediction)
    by_kind = [float("nan"), float("nan")]
    prediction, truth = prediction[keep], truth[keep]
    if hard is not None:
        hard = np.asarray(hard, dtype=bool)[keep] & ~truth
        by_kind = [auroc(prediction[~hard], truth[~hard]), auroc(prediction[truth | hard], truth[truth | hard])]
    return Scores(
        pearson(prediction, truth),
        f1(prediction, truth),
        auroc(prediction, truth),
        balanced_accuracy(prediction, truth),
        int(keep.sum()),
        *by_kind,
    )
