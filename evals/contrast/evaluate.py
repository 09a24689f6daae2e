"""Evaluating selected features on the test split, one by one and together.

Per feature (a document "has" the feature when its activation is positive):
- ``mean_with`` / ``mean_without``: the target's mean over test documents with / without the feature,
  ``effect`` = their difference (for a binary target: the difference in the share of positives);
- a p-value: Fisher's exact test (binary target) or Welch's t-test (numeric), Benjamini-Hochberg
  corrected across the selected features (``q_value``).

Together: a logistic (binary; AUC) or ridge (numeric; R²) regression fit on the training split, on the
selected features' activations, next to the same model on the raw embeddings (standardised).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats

from evals.contrast.select import column_peaks, scale_columns
from evals.interp.metrics import auroc


@dataclass(frozen=True)
class FeatureEffects:
    n_with: np.ndarray
    mean_with: np.ndarray
    mean_without: np.ndarray
    effect: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray


def feature_effects(X_test: sp.csr_array, y_test: np.ndarray, binary: bool) -> FeatureEffects:
    """Per column of ``X_test`` (the selected features only)."""
    active = (X_test > 0).toarray()
    n_with = active.sum(axis=0)
    mean_with, mean_without, p_values = [], [], []
    for column in active.T:
        inside, outside = y_test[column], y_test[~column]
        mean_with.append(inside.mean() if inside.size else np.nan)
        mean_without.append(outside.mean() if outside.size else np.nan)
        if inside.size == 0 or outside.size == 0:
            p_values.append(np.nan)
        elif binary:
            table = [
                [int(inside.sum()), int(inside.size - inside.sum())],
                [int(outside.sum()), int(outside.size - outside.sum())],
            ]
            p_values.append(stats.fisher_exact(table).pvalue)
        elif inside.size < 2:
            p_values.append(np.nan)
        else:
            p_values.append(stats.ttest_ind(inside, outside, equal_var=False).pvalue)
    p = np.array(p_values, dtype=float)
    q = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    with_, without = np.array(mean_with, float), np.array(mean_without, float)
    return FeatureEffects(n_with.astype(int), with_, without, with_ - without, p, q)


def held_out_score(train_X, y_train: np.ndarray, test_X, y_test: np.ndarray, binary: bool, seed: int = 0) -> float:
    """AUC (binary) or R² (numeric) on the test split of an L2 model fit on the training split."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import r2_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if binary:
            if len(np.unique(y_train)) < 2 or len(np.unique(y_test)) < 2:
                return float("nan")
            model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(train_X, y_train)
            return float(auroc(model.decision_function(test_X), y_test))
        model = Ridge(alpha=1.0).fit(train_X, y_train)
        return float(r2_score(y_test, model.predict(test_X)))


def features_score(
    X_train: sp.csr_array, y_train: np.ndarray, X_test: sp.csr_array, y_test: np.ndarray, binary: bool
) -> float:
    """The selected features' activations, each scaled by its training maximum."""
    peaks = column_peaks(X_train)
    return held_out_score(scale_columns(X_train, peaks), y_train, scale_columns(X_test, peaks), y_test, binary)


def embedding_score(
    E_train: np.ndarray, y_train: np.ndarray, E_test: np.ndarray, y_test: np.ndarray, binary: bool
) -> float:
    """The same model on the raw embeddings, standardised with the training split's mean and deviation."""
    mean, deviation = E_train.mean(axis=0), E_train.std(axis=0) + 1e-8
    return held_out_score((E_train - mean) / deviation, y_train, (E_test - mean) / deviation, y_test, binary)
