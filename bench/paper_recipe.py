"""Baseline: a plain re-implementation of the paper's FastAutoencoder training step (O'Neill et al.).

Dense everywhere, as published: the top-k code is scattered into a dense (B, n) matrix and decoded with a
dense matmul, autograd runs the dense backward, and the top-4k reconstruction is computed every step
(its loss weight is 0 in the paper's final code, but the forward pass still pays for it).
"""

from __future__ import annotations

import torch
from torch import nn

from trainer.sae import normalised_mse


class PaperAutoencoder(nn.Module):
    """W_enc (n, d), b_enc (n), W_dec (d, n) with unit columns, b_pre (d); see PAPER.md section 1."""

    def __init__(
        self, d: int, n_latents: int, k: int, k_aux: int, auxk_coef: float = 1 / 32, multik_coef: float = 0.0
    ) -> None:
        super().__init__()
        self.k, self.k_aux, self.auxk_coef, self.multik_coef = k, k_aux, auxk_coef, multik_coef
        self.b_pre = nn.Parameter(torch.zeros(d))
        self.b_enc = nn.Parameter(torch.zeros(n_latents))
        decoder = torch.empty(d, n_latents)
        nn.init.xavier_uniform_(decoder)
        self.W_dec = nn.Parameter(decoder / decoder.norm(dim=0, keepdim=True))
        self.W_enc = nn.Parameter(self.W_dec.detach().t().clone())

    @torch.no_grad()
    def copy_from(self, sae) -> None:
        """Start from a TopKSAE's weights (for equal-init comparisons)."""
        self.b_pre.copy_(sae.b_pre)
        self.b_enc.copy_(sae.encoder.bias)
        self.W_enc.copy_(sae.encoder.weight)
        self.W_dec.copy_(sae.W_dec.t())

    def _dense_code(self, pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        values, indices = pre.topk(k, dim=-1)
        values = values.relu()
        return torch.zeros_like(pre).scatter(-1, indices, values), values, indices

    def forward(
        self, x: torch.Tensor, dead_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (loss, nmse, top-k values (B, k) after ReLU, top-k latent ids (B, k))."""
        pre = (x - self.b_pre) @ self.W_enc.t() + self.b_enc
        code, values, indices = self._dense_code(pre, self.k)
        x_hat = code @ self.W_dec.t() + self.b_pre
        x_hat_multik = self._dense_code(pre, 4 * self.k)[0] @ self.W_dec.t() + self.b_pre
        aux_hat = self._dense_code(pre * dead_mask, self.k_aux)[0] @ self.W_dec.t()
        nmse = normalised_mse(x_hat, x)
        auxk = normalised_mse(aux_hat, (x - x_hat).detach())
        multik = normalised_mse(x_hat_multik, x)
        return nmse + self.multik_coef * multik + self.auxk_coef * auxk, nmse, values.detach(), indices

    @torch.no_grad()
    def remove_parallel_decoder_grad(self) -> None:
        assert self.W_dec.grad is not None  # called after backward
        parallel = (self.W_dec.grad * self.W_dec).sum(dim=0, keepdim=True)
        self.W_dec.grad -= parallel * self.W_dec

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=0, keepdim=True))

    def train_step(
        self, x: torch.Tensor, dead_mask: torch.Tensor, optimiser: torch.optim.Optimizer
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """backward, project the decoder gradient, clip at 1.0, Adam, renormalise: the paper's step.

        Returns (nmse, top-k values, top-k latent ids)."""
        loss, nmse, values, indices = self(x, dead_mask)
        optimiser.zero_grad()
        loss.backward()
        self.remove_parallel_decoder_grad()
        torch.nn.utils.clip_grad_norm_(self.parameters(), 1.0)
        optimiser.step()
        self.normalise_decoder()
        return nmse.detach(), values, indices
