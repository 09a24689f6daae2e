"""The top-k sparse autoencoder: the math only (no training loop, no I/O).

z = ReLU(TopK_k(W_enc (x - b_pre) + b_enc)),  x_hat = W_dec^T z + b_pre, decoder rows unit-norm
(b_enc is stored as ``encoder.bias``).
The forward pass itself lives in `trainer.kernels.topk_sae_forward` (sparse fast path + dense reference).

Two options, alone or together:
- BatchTopK (``batch_topk``): training keeps the top k*B pre-activations of the whole batch, so a sample
  gets as many latents as it needs and k is the *mean*; an EMA of the smallest kept activation becomes
  the ``threshold`` buffer (saved with the weights) and inference keeps every latent above it.
- Matryoshka (``prefixes``): latents [0, m) must reconstruct on their own for each prefix size m, one
  loss per prefix (weighted by ``prefix_weights``), so the first latents learn the coarse features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, cast

import torch
from torch import nn

from trainer.kernels import topk_sae_forward


class ForwardOutput(NamedTuple):
    """Everything one forward pass produces, each loss and metric named."""

    x_hat: torch.Tensor
    values: torch.Tensor
    """(B, w) post-ReLU activations of the selected latents (w = k; under BatchTopK see trainer.kernels.SaeCodes)."""
    indices: torch.Tensor
    """(B, w) latent ids of the selected latents."""
    nmse: torch.Tensor
    """Normalised MSE: mean squared error over the batch variance (the paper's loss, = FVU)."""
    auxk: torch.Tensor
    """Normalised MSE of the dead latents' reconstruction of the residual (0 when none are dead)."""
    loss: torch.Tensor
    """Reconstruction loss (nmse, or the weighted prefix losses) + auxk_coef * auxk + multik_coef * multik."""
    multik: torch.Tensor | None = None
    """Normalised MSE of the top multi_k reconstruction; None when multi-k is off."""
    prefix_nmse: tuple[torch.Tensor, ...] = ()
    """Matryoshka: normalised MSE of each prefix's reconstruction, the full dictionary last (= nmse)."""


SumAcross = Callable[[torch.Tensor], torch.Tensor]
"""Sums a tensor over every data-parallel rank (an all-reduce); None in a single process."""


def batch_variance(target: torch.Tensor, sum_across: SumAcross | None = None) -> torch.Tensor:
    """Mean per-dimension (population) variance of the batch; of the *global* batch under data parallelism.

    With ``sum_across``, each rank's loss is normalised by the same denominator, so the averaged DDP
    gradient equals the one-process gradient of the whole batch (per-rank variances would not).
    """
    target = target.detach().double()
    stats = torch.cat([target.sum(dim=0), target.pow(2).sum(dim=0), target.new_tensor([target.shape[0]])])
    if sum_across is not None:
        stats = sum_across(stats)
    d = target.shape[1]
    count = stats[-1]
    mean = stats[:d] / count
    return (stats[d : 2 * d] / count - mean.pow(2)).mean().float()


def normalised_mse(
    reconstruction: torch.Tensor, target: torch.Tensor, sum_across: SumAcross | None = None
) -> torch.Tensor:
    """mean((a - x)^2) / mean((mean_batch(x) - x)^2), both over all batch x d elements (in fp32).

    The denominator is the mean per-dimension (population) variance of the batch: the paper's definition.
    """
    reconstruction, target = reconstruction.float(), target.float()
    variance = batch_variance(target, sum_across)
    return torch.nn.functional.mse_loss(reconstruction, target) / variance.clamp_min(1e-12)


def geometric_median(points: torch.Tensor, n_iter: int = 100, tol: float = 1e-6) -> torch.Tensor:
    """The point minimising the summed Euclidean distance to `points` (Weiszfeld's iterations)."""
    points = points.double()
    median = points.median(dim=0).values
    for _ in range(n_iter):
        weights = 1.0 / (points - median).norm(dim=1).clamp_min(1e-12)
        updated = (weights[:, None] * points).sum(dim=0) / weights.sum()
        moved = (updated - median).norm()
        median = updated
        if moved <= tol * median.norm().clamp_min(1e-12):
            break
    return median


def prefix_sizes(n_latents: int, fractions: Sequence[float] | None) -> tuple[int, ...]:
    """Matryoshka prefix sizes from fractions of the dictionary (e.g. [1/16, 1/4] -> n/16, n/4); () for none."""
    if not fractions:
        return ()
    if any(not 0 < f < 1 for f in fractions):
        raise ValueError(f"matryoshka fractions must be in (0, 1), e.g. [0.0625, 0.25]; got {list(fractions)}")
    return tuple(max(1, round(f * n_latents)) for f in fractions)


class TopKSAE(nn.Module):
    """Top-k SAE. `fast=True` runs the sparse kernels (trainer.kernels); False the dense reference path.

    multi_k (default off) adds multik_coef * NMSE of the reconstruction from the top multi_k latents
    (e.g. 4k, as in Gao et al.) to the loss. ``batch_topk`` and ``prefixes``: see the module docstring;
    ``threshold_beta`` is the EMA decay of the BatchTopK threshold, ``prefix_weights`` (one per prefix plus
    one for the whole dictionary) default to equal weights summing to 1.
    """

    threshold: torch.Tensor  # a buffer, registered only under BatchTopK

    def __init__(
        self,
        d: int,
        n_latents: int,
        k: int,
        k_aux: int | None = None,
        auxk_coef: float = 1 / 32,
        *,
        multi_k: int | None = None,
        multik_coef: float = 1 / 8,
        batch_topk: bool = False,
        threshold_beta: float = 0.99,
        prefixes: Sequence[int] = (),
        prefix_weights: Sequence[float] | None = None,
        fast: bool = True,
    ) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(
                f"k must be in (0, n_latents): got k={k}; k latents fire per document, so pick k >= 1 (e.g. 32)"
            )
        if k >= n_latents:
            raise ValueError(
                f"k must be in (0, n_latents): got k={k}, n_latents={n_latents}; pick a smaller k or more latents"
            )
        if k_aux is None and 2 * k > n_latents:
            raise ValueError(
                f"k_aux must be in (0, n_latents]: k_aux was not set, and its default 2k = {2 * k} exceeds "
                f"n_latents={n_latents}; set k_aux <= {n_latents} or use more latents"
            )
        k_aux = 2 * k if k_aux is None else k_aux
        if not 0 < k_aux <= n_latents:
            raise ValueError(
                f"k_aux must be in (0, n_latents]: got k_aux={k_aux}, n_latents={n_latents}; "
                f"pick 1 <= k_aux <= {n_latents}"
            )
        if multi_k is not None and not k < multi_k <= n_latents:
            raise ValueError(
                f"multi_k must be in (k, n_latents]: got multi_k={multi_k}, k={k}, n_latents={n_latents}; "
                "or leave it None (off)"
            )
        self.d, self.n_latents, self.k, self.k_aux, self.auxk_coef = d, n_latents, k, k_aux, auxk_coef
        self.multi_k, self.multik_coef, self.fast = multi_k, multik_coef, fast
        self.prefixes = tuple(int(m) for m in prefixes)
        if any(not 0 < m < n_latents for m in self.prefixes) or list(self.prefixes) != sorted(set(self.prefixes)):
            raise ValueError(
                f"prefixes must increase strictly within (0, n_latents={n_latents}): got {list(self.prefixes)}"
            )
        levels = len(self.prefixes) + 1
        weights = [1 / levels] * levels if prefix_weights is None else [float(w) for w in prefix_weights]
        if len(weights) != levels or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(
                f"prefix_weights needs {levels} non-negative weights (one per prefix, then the whole dictionary); "
                f"got {weights}"
            )
        self.prefix_weights = tuple(weights)
        if not 0 <= threshold_beta < 1:
            raise ValueError(f"threshold_beta must be in [0, 1): got {threshold_beta}")
        self.batch_topk, self.threshold_beta = batch_topk, threshold_beta
        if batch_topk:  # only then: plain top-k checkpoints keep their exact state_dict
            self.register_buffer("threshold", torch.tensor(-1.0))
        self.b_pre = nn.Parameter(torch.zeros(d))
        self.encoder = nn.Linear(d, n_latents)
        decoder = torch.empty(n_latents, d)
        nn.init.xavier_uniform_(decoder)
        self.W_dec = nn.Parameter(decoder / decoder.norm(dim=1, keepdim=True))
        with torch.no_grad():
            self.encoder.weight.copy_(self.W_dec)
            self.encoder.bias.zero_()

    @property
    def architecture(self) -> str:
        """'topk', 'batchtopk', 'matryoshka' or 'matryoshka-batchtopk'."""
        return (
            "-".join((["matryoshka"] if self.prefixes else []) + (["batchtopk"] if self.batch_topk else [])) or "topk"
        )

    @torch.no_grad()
    def init_b_pre(self, sample: torch.Tensor, method: str = "median") -> None:
        """b_pre = per-dimension median ("median", the paper) or geometric median ("geometric_median") of a sample."""
        if method == "median":
            centre = sample.median(dim=0).values
        elif method == "geometric_median":
            centre = geometric_median(sample)
        else:
            raise ValueError(f"unknown b_pre init method {method!r}; use 'median' or 'geometric_median'")
        self.b_pre.copy_(centre.to(self.b_pre.dtype))

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x - self.b_pre)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference codes (values, latent ids), both (B, w): the top k, or under BatchTopK every latent above
        the learned threshold (w = the most any sample has; shorter samples padded with value 0)."""
        pre = self.pre_activations(x)
        if not self.batch_topk or self.threshold < 0:  # an untrained BatchTopK has no threshold yet
            values, indices = pre.topk(self.k, dim=-1, sorted=False)
            return values.relu(), indices
        active = pre > self.threshold
        width = max(int(active.sum(dim=1).max()), 1) if len(pre) else 1
        values, indices = pre.masked_fill(~active, 0).topk(width, dim=-1, sorted=False)
        return values, indices

    def level_of_latents(self) -> torch.Tensor:
        """The Matryoshka level of every latent: 0 for [0, prefixes[0]), 1 for the next prefix, ...;
        all 0 without prefixes."""
        return torch.bucketize(torch.arange(self.n_latents), torch.tensor(self.prefixes, dtype=torch.long), right=True)

    @torch.no_grad()
    def update_threshold(self, values: torch.Tensor) -> None:
        """BatchTopK: move the inference threshold towards the smallest activation the batch kept (EMA)."""
        if not self.batch_topk:
            return
        kept = values[values > 0]
        if kept.numel() == 0:
            return
        smallest = kept.min().to(self.threshold.dtype)
        if self.threshold < 0:
            self.threshold.copy_(smallest)
        else:
            self.threshold.mul_(self.threshold_beta).add_((1 - self.threshold_beta) * smallest)

    def decode(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return (
            torch.nn.functional.embedding_bag(
                indices, self.W_dec, per_sample_weights=values.to(self.W_dec.dtype), mode="sum"
            )
            + self.b_pre
        )

    def forward(
        self, x: torch.Tensor, dead_mask: torch.Tensor | None = None, sum_across: SumAcross | None = None
    ) -> ForwardOutput:
        codes = topk_sae_forward(
            x,
            self.b_pre,
            self.encoder.weight,
            self.encoder.bias,
            self.W_dec,
            self.k,
            dead_mask=dead_mask,
            k_aux=self.k_aux,
            multi_k=self.multi_k,
            batch_topk=self.batch_topk,
            prefixes=self.prefixes,
            fast=self.fast,
        )
        nmse = normalised_mse(codes.x_hat, x, sum_across)
        loss = nmse
        prefix_nmse: tuple[torch.Tensor, ...] = ()
        if self.prefixes:
            prefix_nmse = (*(normalised_mse(hat, x, sum_across) for hat in codes.prefix_hats), nmse)
            loss = cast(
                torch.Tensor,
                sum(weight * level for weight, level in zip(self.prefix_weights, prefix_nmse, strict=False)),
            )
        auxk = nmse.new_zeros(())
        if codes.aux_hat is not None:
            auxk = normalised_mse(codes.aux_hat, (x - codes.x_hat).detach(), sum_across)
            loss = loss + self.auxk_coef * auxk
        multik = None
        if codes.multi_hat is not None:
            multik = normalised_mse(codes.multi_hat, x, sum_across)
            loss = loss + self.multik_coef * multik
        return ForwardOutput(codes.x_hat, codes.values, codes.indices, nmse, auxk, loss, multik, prefix_nmse)

    @torch.no_grad()
    def remove_parallel_decoder_grad(self) -> None:
        """Drop each decoder row's gradient component along the row (keeps unit norm to first order)."""
        if self.W_dec.grad is not None:
            parallel = torch.einsum("nd,nd->n", self.W_dec.grad, self.W_dec)
            self.W_dec.grad.addcmul_(parallel.unsqueeze(1), self.W_dec, value=-1)

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))
