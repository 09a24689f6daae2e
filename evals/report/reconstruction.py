"""Reconstruction on the test split: FVU, cosine quantiles, L0, dead and dense latents, densities."""

from __future__ import annotations

import numpy as np
import torch

from evals.report.inputs import ReportInputs
from trainer.metrics import ReconstructionStats

COSINE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def density_edges(n_docs: int) -> np.ndarray:
    """Histogram bins in log10 steps of 0.5, from below 1 / n_docs (the smallest non-zero density) to 1."""
    lowest = np.floor(2 * np.log10(1 / max(n_docs, 1))) / 2
    return 10.0 ** np.arange(lowest, 0.25, 0.5)


def reconstruction_section(inputs: ReportInputs, dense_density: float) -> dict:
    """Every number on the test split, except those named train / val (the trainer's) or all_docs."""
    test = inputs.test_rows
    x, x_hat, codes = inputs.embeddings[test], inputs.reconstructions[test], inputs.codes[test]
    # The trainer's own definition (mean over the split), so test_fvu here equals its test_fvu.
    stats = ReconstructionStats()
    stats.update(torch.from_numpy(x), torch.from_numpy(x_hat), torch.from_numpy(codes.data))
    split = stats.compute()
    cosine = np.einsum("ij,ij->i", x, x_hat) / np.maximum(
        np.linalg.norm(x, axis=1) * np.linalg.norm(x_hat, axis=1), 1e-12
    )
    l0 = np.diff(codes.indptr)
    density = np.bincount(codes.indices, minlength=inputs.sae.n_latents) / len(test)
    fired_anywhere = np.bincount(inputs.codes.indices, minlength=inputs.sae.n_latents) > 0
    metrics = inputs.metrics
    edges = density_edges(len(test))
    counts, _ = np.histogram(density[density > 0], bins=edges)
    return {
        "test_fvu": split["fvu"],
        "train_fvu": metrics.get("train_fvu"),
        "val_fvu": metrics.get("val_fvu"),
        "test_relative_mse": split["relative_mse"],
        "test_cosine_mean": split["cosine"],
        "test_cosine_quantiles": {
            f"q{round(q * 100):02d}": float(v)
            for q, v in zip(COSINE_QUANTILES, np.quantile(cosine, COSINE_QUANTILES), strict=False)
        },
        "test_l0": float(l0.mean()),
        "test_l0_min": int(l0.min()),
        "test_l0_max": int(l0.max()),
        "dead_fraction": float((density == 0).mean()),
        "dense_fraction": float((density > dense_density).mean()),
        "dead_fraction_all_docs": float((~fired_anywhere).mean()),
        "trainer_dead_fraction": metrics.get("dead_fraction"),
        "density_histogram": {"edges": edges.tolist(), "counts": counts.tolist(), "dead": int((density == 0).sum())},
    }
