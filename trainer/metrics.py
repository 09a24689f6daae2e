"""Reconstruction metrics over a whole split (not a batch), shared by validation and final stats."""

from __future__ import annotations

import torch


class ReconstructionStats:
    """Streams batches and reports dataset-level FVU, relative MSE, cosine and L0.

    fvu = sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 with mean(x) over the whole split, the same
    definition as the training loss (``trainer.sae.normalised_mse``) applied to the split at once.
    """

    def __init__(self) -> None:
        self.count = 0
        self.squared_error = 0.0
        self.sum_x: torch.Tensor | None = None
        self.sum_squares = 0.0
        self.cosine_sum = 0.0
        self.active_sum = 0.0

    @torch.no_grad()
    def update(self, x: torch.Tensor, x_hat: torch.Tensor, values: torch.Tensor) -> None:
        x, x_hat = x.double(), x_hat.double()
        self.count += x.shape[0]
        self.squared_error += float((x - x_hat).pow(2).sum())
        batch_sum = x.sum(dim=0)
        self.sum_x = batch_sum if self.sum_x is None else self.sum_x + batch_sum
        self.sum_squares += float(x.pow(2).sum())
        self.cosine_sum += float(torch.nn.functional.cosine_similarity(x, x_hat, dim=1).sum())
        self.active_sum += float((values > 0).sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise ValueError("no samples were seen; the split is empty")
        assert self.sum_x is not None  # set by the first update
        total_variance = self.sum_squares - float(self.sum_x.pow(2).sum()) / self.count
        return {
            "fvu": self.squared_error / max(total_variance, 1e-12),
            "relative_mse": self.squared_error / max(self.sum_squares, 1e-12),
            "cosine": self.cosine_sum / self.count,
            "l0": self.active_sum / self.count,
        }
