"""The top-k sparse autoencoder: the math only (no training loop, no I/O).

z = ReLU(TopK_k(W_enc (x - b_pre) + b_lat)),  x_hat = W_dec^T z + b_pre, decoder rows unit-norm.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class ForwardOutput(NamedTuple):
    """Everything one forward pass produces, each loss and metric named."""

    x_hat: torch.Tensor
    values: torch.Tensor
    """(B, k) post-ReLU activations of the selected latents."""
    indices: torch.Tensor
    """(B, k) latent ids of the selected latents."""
    nmse: torch.Tensor
    """Normalised MSE: mean squared error over the batch variance (the paper's loss, = FVU)."""
    auxk: torch.Tensor
    """Normalised MSE of the dead latents' reconstruction of the residual (0 when none are dead)."""
    loss: torch.Tensor
    """nmse + auxk_coef * auxk."""


def normalised_mse(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((a - x)^2) / mean((mean_batch(x) - x)^2), both over all batch x d elements."""
    variance = (target - target.mean(dim=0, keepdim=True)).pow(2).mean()
    return (reconstruction - target).pow(2).mean() / variance.clamp_min(1e-12)


class TopKSAE(nn.Module):
    def __init__(self, d: int, n_latents: int, k: int, k_aux: int | None = None, auxk_coef: float = 1 / 32) -> None:
        super().__init__()
        if not 0 < k < n_latents:
            raise ValueError(f"k must be in (0, n_latents): got k={k}, n_latents={n_latents}; pick a smaller k or more latents")
        k_aux = 2 * k if k_aux is None else k_aux
        if not 0 < k_aux <= n_latents:
            raise ValueError(f"k_aux must be in (0, n_latents]: got k_aux={k_aux}, n_latents={n_latents}")
        self.d, self.n_latents, self.k, self.k_aux, self.auxk_coef = d, n_latents, k, k_aux, auxk_coef
        self.b_pre = nn.Parameter(torch.zeros(d))
        self.encoder = nn.Linear(d, n_latents)
        decoder = torch.empty(n_latents, d)
        nn.init.xavier_uniform_(decoder)
        self.W_dec = nn.Parameter(decoder / decoder.norm(dim=1, keepdim=True))
        with torch.no_grad():
            self.encoder.weight.copy_(self.W_dec)
            self.encoder.bias.zero_()

    @torch.no_grad()
    def init_b_pre(self, sample: torch.Tensor) -> None:
        """b_pre = per-dimension median of a data sample (robust centre of the embeddings)."""
        self.b_pre.copy_(sample.median(dim=0).values)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x - self.b_pre)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values, indices = self.pre_activations(x).topk(self.k, dim=-1, sorted=False)
        return values.relu(), indices

    def decode(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bk,bkd->bd", values, self.W_dec[indices]) + self.b_pre

    def forward(self, x: torch.Tensor, dead_mask: torch.Tensor | None = None) -> ForwardOutput:
        pre = self.pre_activations(x)
        values, indices = pre.topk(self.k, dim=-1, sorted=False)
        values = values.relu()
        x_hat = torch.einsum("bk,bkd->bd", values, self.W_dec[indices]) + self.b_pre
        nmse = normalised_mse(x_hat, x)
        auxk = pre.new_zeros(())
        if dead_mask is not None and bool(dead_mask.any()):
            k_aux = min(self.k_aux, int(dead_mask.sum()))
            aux_values, aux_indices = pre.masked_fill(~dead_mask, float("-inf")).topk(k_aux, dim=-1, sorted=False)
            residual = (x - x_hat).detach()
            aux_hat = torch.einsum("bk,bkd->bd", aux_values.relu(), self.W_dec[aux_indices])
            auxk = normalised_mse(aux_hat, residual)
        return ForwardOutput(x_hat, values, indices, nmse, auxk, nmse + self.auxk_coef * auxk)

    @torch.no_grad()
    def remove_parallel_decoder_grad(self) -> None:
        """Drop each decoder row's gradient component along the row (keeps unit norm to first order)."""
        if self.W_dec.grad is not None:
            parallel = (self.W_dec.grad * self.W_dec).sum(dim=1, keepdim=True)
            self.W_dec.grad -= parallel * self.W_dec

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
