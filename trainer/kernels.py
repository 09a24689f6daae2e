"""The top-k SAE forward pass, twice: a sparse fast path and a plain dense reference.

`topk_sae_forward(..., fast=True)` is the one entry point. Both paths compute the same values and the same
gradients (tests/test_kernels.py checks every one); they differ only in cost:

- reference (`fast=False`): plain autograd. The encoder backward is an n-wide GEMM and the decoder
  multiplies a dense (B, n) code by W_dec, as in the paper's FastAutoencoder.
- fast (`fast=True`): one autograd node (`_FusedSparseTopKSAE`). The encoder forward GEMM (B x d x n)
  is the only dense n-wide work. The decoder is an embedding bag over the selected rows of W_dec. The
  backward touches only the selected entries (top-k plus the AuxK and multi-k picks): their activation
  gradients come from a sampled dense-dense product (SDDMM), and one sort of the entries by latent gives
  sparse (n x B) CSR matrices whose products with the output gradients and the centred input are the
  W_dec and W_enc gradients (an index_add of outer products without materialising them). b_enc's
  gradient is a bincount and b_pre's one mat-vec: no (B, n) or (B, k, d) tensor is ever built.

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
        x_hat, values, indices, aux_hat, multi_hat = _FusedSparseTopKSAE.apply(
            x, b_pre, W_enc, b_enc, W_dec, k, n_selected, multi_k is not None, dead_idx, k_aux
        )
        return SaeCodes(x_hat, values, indices, aux_hat if dead_idx is not None else None, multi_hat if multi_k is not None else None)
    selected, sel_idx, aux_pre, aux_idx = _dense_topk_encoder(x, b_pre, W_enc, b_enc, n_selected, multi_k is not None, dead_idx, k_aux)
    values, indices = selected[:, :k].relu(), sel_idx[:, :k]
    x_hat = _dense_decode(values, indices, W_dec) + b_pre
    aux_hat = _dense_decode(aux_pre.relu(), aux_idx, W_dec) if dead_idx is not None else None
    multi_hat = _dense_decode(selected.relu(), sel_idx, W_dec) + b_pre if multi_k is not None else None
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


def _csr(crow: torch.Tensor, columns: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    return torch.sparse_csr_tensor(crow, columns, values, shape, check_invariants=False)


class _FusedSparseTopKSAE(torch.autograd.Function):
    """The whole SAE forward in one autograd node, so the backward shares one sort of the selected entries.

    Forward: pre = (x - b_pre) W_enc^T + b_enc (the one dense GEMM); pick the top-k (top-n_selected) of
    pre, and the top-k_aux of pre over the dead latents. The picks form "bags": B bags of k for x_hat,
    B bags of k_aux for aux_hat, B bags of multi_k for multi_hat; each bag is decoded by an embedding bag
    over its rows of W_dec.
    Backward, with E = all picked entries (a few times B * k): the activation gradient is an SDDMM
    (bag-output gradient . W_dec row, only at the E entries); sorting E by latent once gives the (n x bags)
    and (n x B) CSR matrices whose products with the bag gradients and the centred input are the W_dec and
    W_enc gradients; b_enc's is a bincount; b_pre's is a column sum minus one mat-vec.
    """

    @staticmethod
    def forward(ctx, x, b_pre, W_enc, b_enc, W_dec, k, n_selected, multi, dead_idx, k_aux):
        batch, n = x.shape[0], W_enc.shape[0]
        x_centred = x - b_pre
        pre = F.linear(x_centred, W_enc, b_enc)  # follows autocast
        top_pre, top_idx = pre.topk(n_selected, dim=-1, sorted=multi)
        bags = [(top_pre[:, :k], top_idx[:, :k])]
        if dead_idx is not None:
            aux_pre, position = pre.index_select(1, dead_idx).topk(min(k_aux, dead_idx.numel()), dim=-1, sorted=False)
            bags.append((aux_pre, dead_idx[position]))
        if multi:
            bags.append((top_pre, top_idx))
        with _no_autocast(W_dec.device):
            picked_pre = torch.cat([p.reshape(-1) for p, _ in bags]).to(W_dec.dtype)
            picked = torch.cat([i.reshape(-1) for _, i in bags])
            bag_sizes = torch.tensor([i.shape[1] for _, i in bags], device=x.device).repeat_interleave(batch)
            offsets = torch.zeros(bag_sizes.numel(), dtype=torch.long, device=x.device)
            offsets[1:] = bag_sizes[:-1].cumsum(0)
            decoded = F.embedding_bag(picked, W_dec, offsets, mode="sum", per_sample_weights=picked_pre.relu()).view(len(bags), batch, -1)
        ctx.save_for_backward(x_centred, W_enc, W_dec, picked, picked_pre, offsets)
        ctx.layout = (batch, n, k, dead_idx is not None, multi)
        values, indices = picked_pre[: batch * k].relu().view(batch, k), top_idx[:, :k]
        ctx.mark_non_differentiable(indices)
        empty = decoded.new_zeros(0)
        aux_hat = decoded[1] if dead_idx is not None else empty
        multi_hat = decoded[-1] + b_pre if multi else empty
        return decoded[0] + b_pre, values, indices, aux_hat, multi_hat

    @staticmethod
    def backward(ctx, grad_x_hat, grad_values, _grad_indices, grad_aux_hat, grad_multi_hat):
        x_centred, W_enc, W_dec, picked, picked_pre, offsets = ctx.saved_tensors
        batch, n, k, has_aux, multi = ctx.layout
        dtype = W_dec.dtype
        with _no_autocast(W_dec.device):
            grad_bags = [grad_x_hat] + ([grad_aux_hat] if has_aux else []) + ([grad_multi_hat] if multi else [])
            grad_out = torch.cat(grad_bags).to(dtype)  # (bags, d)
            n_bags, n_entries = grad_out.shape[0], picked.numel()
            bag_crow = torch.cat([offsets, offsets.new_full((1,), n_entries)])
            # d loss / d activation at every picked entry: <grad of its bag's output, its decoder row>
            pattern = _csr(bag_crow, picked, torch.zeros_like(picked_pre), (n_bags, n))
            grad_act = torch.sparse.sampled_addmm(pattern, grad_out, W_dec.t(), beta=0.0).values()
            grad_act[: batch * k] += grad_values.reshape(-1).to(dtype)
            grad_pre = grad_act * (picked_pre > 0)
            # one sort of the entries by latent serves both weight gradients
            order = torch.argsort(picked)
            latent_crow = torch.zeros(n + 1, dtype=torch.long, device=picked.device)
            latent_crow[1:] = torch.bincount(picked, minlength=n).cumsum(0)
            bag_of_entry = torch.repeat_interleave(torch.arange(n_bags, device=picked.device), bag_crow.diff())[order]
            grad_W_dec = _csr(latent_crow, bag_of_entry, picked_pre.relu()[order], (n, n_bags)) @ grad_out
            grad_W_enc = _csr(latent_crow, bag_of_entry % batch, grad_pre[order], (n, batch)) @ x_centred.to(dtype)
            grad_b_enc = torch.bincount(picked, weights=grad_pre, minlength=n).to(dtype)
            grad_b_pre = grad_x_hat.sum(0).to(dtype) - grad_b_enc @ W_enc.to(dtype)  # no (B, d) input gradient
            if multi:
                grad_b_pre += grad_multi_hat.sum(0).to(dtype)
            grad_x = None
            if ctx.needs_input_grad[0]:
                sample_of_entry = torch.repeat_interleave(torch.arange(n_bags, device=picked.device), bag_crow.diff()) % batch
                encoder_code = torch.sparse_coo_tensor(torch.stack([sample_of_entry, picked]), grad_pre, (batch, n))
                grad_x = torch.sparse.mm(encoder_code, W_enc.to(dtype))
        return grad_x, grad_b_pre, grad_W_enc, grad_b_enc, grad_W_dec, None, None, None, None, None
