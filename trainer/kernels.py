"""The top-k SAE forward pass, twice: a sparse fast path and a plain dense reference.

`topk_sae_forward(..., fast=True)` is the one entry point. Both paths compute the same values and the same
gradients (tests/test_kernels.py checks every one); they differ only in cost:

- reference (`fast=False`): plain autograd. The encoder backward is an n-wide GEMM and the decoder
  multiplies a dense (B, n) code by W_dec, as in the paper's FastAutoencoder.
- fast (`fast=True`): the encoder forward GEMM (B x d x n) is the only dense n-wide work. Its backward
  only touches the selected pre-activations (top-k, plus the AuxK and multi-k picks): the weight gradient
  is a sparse (n x B) CSR matrix times the centred input, the bias gradient a bincount, and the pre-bias
  gradient one mat-vec. The decoder is an embedding bag over the k active rows; its backward takes the
  value gradient as a sampled dense-dense product (only the selected entries) and the row gradient as
  another sparse (n x B) product.

Sparse work always runs in the parameters' dtype with autocast off (sparse kernels have no bf16/fp16
support on every device); only the encoder GEMM follows an ambient autocast.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F

# CSR tensors are only transient operands of mm / sampled_addmm here. PyTorch warns once per process that
# CSR support is "beta"; trigger that one warning silently so it does not reach users' logs.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.sparse_csr_tensor(torch.tensor([0, 0]), torch.tensor([], dtype=torch.long), torch.tensor([]), (1, 1))


class SaeCodes(NamedTuple):
    """What one forward pass of the SAE produces (before any loss)."""

    x_hat: torch.Tensor
    """(B, d) reconstruction from the top-k latents, b_pre included."""
    values: torch.Tensor
    """(B, k) post-ReLU activations of the selected latents."""
    indices: torch.Tensor
    """(B, k) latent ids of the selected latents."""
    aux_hat: torch.Tensor | None
    """(B, d) reconstruction by the top-k_aux dead latents, without b_pre; None when no latent is dead."""
    multi_hat: torch.Tensor | None
    """(B, d) reconstruction from the top multi_k latents, b_pre included; None when multi-k is off."""


def topk_sae_forward(
    x: torch.Tensor,
    b_pre: torch.Tensor,
    W_enc: torch.Tensor,
    b_enc: torch.Tensor,
    W_dec: torch.Tensor,
    k: int,
    *,
    dead_mask: torch.Tensor | None = None,
    k_aux: int = 0,
    multi_k: int | None = None,
    fast: bool = True,
) -> SaeCodes:
    """Encode x, keep the top-k latents (then ReLU), decode; optionally the AuxK and multi-k picks.

    x (B, d); b_pre (d); W_enc (n, d); b_enc (n); W_dec (n, d). dead_mask (n) bool marks dead latents:
    the top min(k_aux, #dead) of them (per sample, on the same pre-activations) give `aux_hat`.
    multi_k > k adds `multi_hat`, the reconstruction from the top multi_k latents.
    """
    n = W_enc.shape[0]
    n_selected = k if multi_k is None else max(k, multi_k)
    if not 0 < n_selected <= n:
        raise ValueError(f"cannot select {n_selected} of {n} latents; pick k (and multi_k) at most n_latents")
    dead_idx = None
    if dead_mask is not None and k_aux > 0:
        dead_idx = dead_mask.nonzero().squeeze(1)
        if dead_idx.numel() == 0:
            dead_idx = None
    if fast:
        selected, sel_idx, aux_pre, aux_idx = _SparseTopKEncoder.apply(x, b_pre, W_enc, b_enc, n_selected, multi_k is not None, dead_idx, k_aux)
        decode = _sparse_decode
    else:
        selected, sel_idx, aux_pre, aux_idx = _dense_topk_encoder(x, b_pre, W_enc, b_enc, n_selected, multi_k is not None, dead_idx, k_aux)
        decode = _dense_decode
    values, indices = selected[:, :k].relu(), sel_idx[:, :k]
    x_hat = decode(values, indices, W_dec) + b_pre
    aux_hat = decode(aux_pre.relu(), aux_idx, W_dec) if dead_idx is not None else None
    multi_hat = decode(selected.relu(), sel_idx, W_dec) + b_pre if multi_k is not None else None
    return SaeCodes(x_hat, values, indices, aux_hat, multi_hat)


# ---------------------------------------------------------------- reference path (plain autograd)


def _dense_topk_encoder(x, b_pre, W_enc, b_enc, n_selected, sort, dead_idx, k_aux):
    pre = F.linear(x - b_pre, W_enc, b_enc)
    values, indices = pre.topk(n_selected, dim=-1, sorted=sort)
    if dead_idx is None:
        return values, indices, pre.new_zeros(pre.shape[0], 0), indices.new_zeros(pre.shape[0], 0)
    dead = torch.zeros(pre.shape[1], dtype=torch.bool, device=pre.device)
    dead[dead_idx] = True
    aux_values, aux_indices = pre.masked_fill(~dead, float("-inf")).topk(min(k_aux, dead_idx.numel()), dim=-1, sorted=False)
    return values, indices, aux_values, aux_indices


def _dense_decode(values: torch.Tensor, indices: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    code = torch.zeros(values.shape[0], W_dec.shape[0], dtype=values.dtype, device=values.device)
    return code.scatter_add(1, indices, values) @ W_dec.to(values.dtype)


# ---------------------------------------------------------------- fast path (sparse backward)


def _no_autocast(device: torch.device):
    return torch.autocast(device_type=device.type, enabled=False) if torch.amp.is_autocast_available(device.type) else contextlib.nullcontext()


def _row_csr(indices: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """The (B, n) CSR matrix holding values[b, j] at column indices[b, j] (k entries in every row)."""
    batch, per_row = indices.shape
    crow = torch.arange(0, batch * per_row + 1, per_row, device=indices.device)
    return torch.sparse_csr_tensor(crow, indices.reshape(-1), values.reshape(-1), (batch, n), check_invariants=False)


def _transposed_csr(indices: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """The (n, B) CSR matrix S^T of `_row_csr(indices, values, n)`, built by sorting the entries by latent.

    A row of S^T @ M (a latent's gradient) then sums only the samples that selected that latent; this is
    the index_add of outer products without materialising the (B, k, d) products.
    """
    batch, per_row = indices.shape
    flat = indices.reshape(-1)
    order = torch.argsort(flat)
    samples = torch.div(order, per_row, rounding_mode="floor")
    crow = torch.zeros(n + 1, dtype=torch.long, device=indices.device)
    crow[1:] = torch.bincount(flat, minlength=n).cumsum(0)
    return torch.sparse_csr_tensor(crow, samples, values.reshape(-1)[order], (n, batch), check_invariants=False)


class _SparseTopKEncoder(torch.autograd.Function):
    """pre = (x - b_pre) W_enc^T + b_enc; top-n_selected of pre, and top-k_aux of pre over the dead latents.

    Returns the selected pre-activations (pre-ReLU) and their latent ids; the backward uses only those.
    """

    @staticmethod
    def forward(ctx, x, b_pre, W_enc, b_enc, n_selected, sort, dead_idx, k_aux):
        x_centred = x - b_pre
        pre = F.linear(x_centred, W_enc, b_enc)  # the one dense GEMM; follows autocast
        values, indices = pre.topk(n_selected, dim=-1, sorted=sort)
        if dead_idx is None:
            aux_values, aux_indices = pre.new_zeros(pre.shape[0], 0), indices.new_zeros(pre.shape[0], 0)
        else:
            aux_values, position = pre.index_select(1, dead_idx).topk(min(k_aux, dead_idx.numel()), dim=-1, sorted=False)
            aux_indices = dead_idx[position]
        ctx.save_for_backward(x_centred, W_enc, indices, aux_indices)
        ctx.mark_non_differentiable(indices, aux_indices)
        return values, indices, aux_values, aux_indices

    @staticmethod
    def backward(ctx, grad_values, _grad_indices, grad_aux_values, _grad_aux_indices):
        x_centred, W_enc, indices, aux_indices = ctx.saved_tensors
        n = W_enc.shape[0]
        with _no_autocast(W_enc.device):
            picked = torch.cat([indices, aux_indices], dim=1)
            grad_pre = torch.cat([grad_values, grad_aux_values], dim=1).to(W_enc.dtype)
            grad_b_enc = torch.bincount(picked.reshape(-1), weights=grad_pre.reshape(-1), minlength=n).to(W_enc.dtype)
            grad_W_enc = _transposed_csr(picked, grad_pre, n) @ x_centred.to(W_enc.dtype)
            grad_b_pre = -(grad_b_enc @ W_enc)  # sum over the batch first: no (B, d) input gradient
            grad_x = _row_csr(picked, grad_pre, n) @ W_enc if ctx.needs_input_grad[0] else None
        return grad_x, grad_b_pre, grad_W_enc, grad_b_enc, None, None, None, None


class _SparseDecoder(torch.autograd.Function):
    """x_hat[b] = sum_j values[b, j] * W_dec[indices[b, j]], touching only the k selected rows."""

    @staticmethod
    def forward(ctx, values, indices, W_dec):
        with _no_autocast(W_dec.device):
            values = values.to(W_dec.dtype)
            ctx.save_for_backward(values, indices, W_dec)
            return F.embedding_bag(indices, W_dec, per_sample_weights=values, mode="sum")

    @staticmethod
    def backward(ctx, grad_out):
        values, indices, W_dec = ctx.saved_tensors
        n = W_dec.shape[0]
        grad_values = grad_W_dec = None
        with _no_autocast(W_dec.device):
            grad_out = grad_out.to(W_dec.dtype).contiguous()
            if ctx.needs_input_grad[0]:
                # <grad_out[b], W_dec[indices[b, j]]> for the selected entries only (an SDDMM)
                pattern = _row_csr(indices, torch.zeros_like(values), n)
                grad_values = torch.sparse.sampled_addmm(pattern, grad_out, W_dec.t(), beta=0.0).values().view_as(values)
            if ctx.needs_input_grad[2]:
                grad_W_dec = _transposed_csr(indices, values, n) @ grad_out
        return grad_values, None, grad_W_dec


def _sparse_decode(values: torch.Tensor, indices: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    return _SparseDecoder.apply(values, indices, W_dec)
