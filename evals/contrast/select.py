"""Selecting the features that predict a target, on the training split only.

``X`` is the (documents x latents) sparse matrix of stored activations, ``y`` the target (0/1 or numeric).

- ``correlation``: Pearson correlation of each feature's activation with the target (the point-biserial
  correlation for a binary target); the features with the largest |r|.
- ``l1``: an L1-regularised logistic (binary) or linear (numeric) regression on the activations scaled by
  each feature's maximum; the regularisation is relaxed until at least ``n_features`` coefficients are
  non-zero, then the largest |coefficient| are kept.

Features active in fewer than ``min_active`` training documents are never selected (a handful of
documents makes any feature look predictive).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

METHODS = ("correlation", "l1")


def eligible_features(X: sp.csr_array, min_active: int) -> np.ndarray:
    return np.asarray((X > 0).sum(axis=0)).ravel() >= min_active


def correlations(X: sp.csr_array, y: np.ndarray) -> np.ndarray:
    """Pearson r of every column of sparse ``X`` with ``y`` (0 for constant columns), without densifying X."""
    n = X.shape[0]
    y = y.astype(np.float64)
    x_mean = np.asarray(X.sum(axis=0)).ravel() / n
    x_sq = np.asarray(X.multiply(X).sum(axis=0)).ravel() / n
    xy = np.asarray(X.T @ y).ravel() / n
    covariance = xy - x_mean * y.mean()
    scale = np.sqrt(np.maximum(x_sq - x_mean**2, 0) * y.var())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, covariance / scale, 0.0)


def column_peaks(X: sp.csr_array) -> np.ndarray:
    return np.asarray(X.max(axis=0).todense()).ravel()


def scale_columns(X: sp.csr_array, peaks: np.ndarray) -> sp.csr_array:
    """Every column divided by ``peaks`` (activations are non-negative; the matrix stays sparse).

    With 32-bit indices: scikit-learn's liblinear refuses sparse matrices with 64-bit ones.
    """
    scaled = sp.csr_array(X @ sp.diags_array(np.where(peaks > 0, 1.0 / np.where(peaks > 0, peaks, 1.0), 0.0)))
    scaled.indices, scaled.indptr = scaled.indices.astype(np.int32), scaled.indptr.astype(np.int32)
    return scaled


def l1_scores(X: sp.csr_array, y: np.ndarray, binary: bool, n_features: int, seed: int = 0) -> np.ndarray:
    """Coefficients of the least-regularised L1 fit on a geometric grid that keeps >= ``n_features`` non-zero."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso, LogisticRegression

    scaled = scale_columns(X, column_peaks(X))
    coefficients = np.zeros(X.shape[1])
    # From strong to weak regularisation: stop at the first fit with enough features (fewer, sparser fits).
    for strength in np.geomspace(1e-3, 10.0, 13):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if binary:
                model = LogisticRegression(
                    l1_ratio=1.0, solver="liblinear", C=float(strength), random_state=seed, max_iter=200
                )
            else:
                model = Lasso(alpha=float(1e-3 / strength), max_iter=2000, random_state=seed)
            model.fit(scaled, y)
        coefficients = np.ravel(model.coef_)
        if np.count_nonzero(coefficients) >= n_features:
            break
    return coefficients


def select_features(
    X: sp.csr_array, y: np.ndarray, method: str, n_features: int, min_active: int, binary: bool, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(latents, their training scores): the ``n_features`` best by |score|, eligible features only."""
    if method not in METHODS:
        raise ValueError(f"unknown selection method {method!r}; choose one of {', '.join(METHODS)}")
    allowed = eligible_features(X, min_active)
    scores = correlations(X, y) if method == "correlation" else l1_scores(X, y, binary, n_features, seed)
    scores = np.where(allowed, scores, 0.0)
    ranked = np.argsort(-np.abs(scores), kind="stable")
    chosen = ranked[np.abs(scores[ranked]) > 0][:n_features]
    return chosen, scores[chosen]
