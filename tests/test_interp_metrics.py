"""Label-scoring metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evals.interp.config import CleanConfig
from evals.interp.metrics import auroc, balanced_accuracy, f1, pearson, score

TRUTH = [1, 1, 0, 0]
PRED = [0.9, -0.2, 0.3, -0.8]


def test_hand_computed_case():
    # x = pred - 0.05 = [.85, -.25, .25, -.85]; y = [.5, .5, -.5, -.5]; r = 0.6 / sqrt(1.57)
    assert pearson(PRED, TRUTH) == pytest.approx(0.6 / math.sqrt(1.57))
    assert f1(PRED, TRUTH) == pytest.approx(0.5)  # TP 1, 2 predicted, 2 true
    assert balanced_accuracy(PRED, TRUTH) == pytest.approx(0.5)  # TPR 1/2, TNR 1/2
    assert auroc(PRED, TRUTH) == pytest.approx(0.75)  # 3 of 4 positive-negative pairs ordered


def test_ties_count_half_and_perfect_separation():
    assert auroc([0.5, 0.5, 0.5, 0.0], [1, 0, 1, 0]) == pytest.approx(0.75)
    assert auroc([0.2, 0.1, -0.1, -0.3], [1, 1, 0, 0]) == 1.0
    assert auroc([0.2, 0.1, -0.1, -0.3], [0, 0, 1, 1]) == 0.0
    assert balanced_accuracy([1, 1, -1, -1, -1, -1], [1, 1, 0, 0, 0, 0]) == 1.0
    # A predictor that says "no" to everything: plain accuracy would be 4/6, balanced is chance.
    assert balanced_accuracy([-1] * 6, [1, 1, 0, 0, 0, 0]) == 0.5
    assert f1([-1] * 6, [1, 1, 0, 0, 0, 0]) == 0.0


def test_agrees_with_numpy_on_random_data():
    rng = np.random.default_rng(0)
    pred = rng.uniform(-1, 1, 200)
    truth = rng.integers(0, 2, 200)
    assert pearson(pred, truth) == pytest.approx(np.corrcoef(pred, truth)[0, 1])
    positives, negatives = pred[truth == 1], pred[truth == 0]
    pairwise = (positives[:, None] > negatives[None, :]).mean()
    assert auroc(pred, truth) == pytest.approx(pairwise)


def test_undefined_scores_are_nan_and_failed_predictions_are_dropped():
    assert math.isnan(pearson([0.5, 0.5, 0.5], [1, 0, 1]))  # constant predictions
    assert math.isnan(auroc([0.1, 0.2], [1, 1]))  # one class
    assert math.isnan(balanced_accuracy([0.1, 0.2], [0, 0]))
    scores = score([0.9, np.nan, -0.5, np.nan], [1, 1, 0, 0])
    assert scores.n_scored == 2 and scores.auroc == 1.0 and scores.f1 == 1.0
    with pytest.raises(ValueError, match="equal length"):
        pearson([1, 2], [1])


def test_clean_thresholds():
    is_clean = CleanConfig().accepts  # the paper's defaults: Pearson >= 0.8, F1 >= 0.8, density < 0.2
    assert is_clean(0.8, 0.8, 0.19)
    assert not is_clean(0.79, 0.9, 0.01)
    assert not is_clean(0.9, 0.9, 0.2)
    assert not is_clean(float("nan"), 0.9, 0.01)
    assert is_clean(np.array([0.9, 0.9]), np.array([0.9, 0.9]), np.array([0.1, 0.3])).tolist() == [True, False]
