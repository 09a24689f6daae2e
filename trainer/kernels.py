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

Over 300 lines as one module on purpose: the fused node's forward and backward and the dense
reference they are checked against must change together.
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
    """(B, d) reconstruction from the selected latents, b_pre included."""
    values: torch.Tensor
    """(B, w) post-ReLU activations of the selected latents; w = k, or under BatchTopK the most any sample
    got (a sample with fewer is padded with value 0 at latent 0)."""
    indices: torch.Tensor
    """(B, w) latent ids of the selected latents."""
    aux_hat: torch.Tensor | None
    """(B, d) reconstruction by the top-k_aux dead latents, without b_pre; None when no latent is dead."""
    multi_hat: torch.Tensor | None
    """(B, d) reconstruction from the top multi_k latents, b_pre included; None when multi-k is off."""
    prefix_hats: tuple[torch.Tensor, ...] = ()
    """Matryoshka: (B, d) reconstruction from the selected latents below each prefix size, b_pre included."""


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
    batch_topk: bool = False,
    prefixes: tuple[int, ...] = (),
    fast: bool = True,
) -> SaeCodes:
    """Encode x, keep the top-k latents (then ReLU), decode; optionally the AuxK, multi-k and prefix picks.

    x (B, d); b_pre (d); W_enc (n, d); b_enc (n); W_dec (n, d). ``batch_topk`` keeps the top k*B
    pre-activations of the whole batch instead of k per sample (BatchTopK), so samples get different
    counts. dead_mask (n) bool marks dead latents: the top min(k_aux, #dead) of them (per sample, on the
    same pre-activations) give `aux_hat`. multi_k > k adds `multi_hat`, the reconstruction from the top
    multi_k latents of each sample. ``prefixes`` (increasing, each < n) add one reconstruction per prefix
    size m from the selected latents with id < m (Matryoshka).
    """
    n = W_enc.shape[0]
    n_selected = k if multi_k is None else max(k, multi_k)
    if not 0 < n_selected <= n:
        raise ValueError(f"cannot select {n_selected} of {n} latents; pick k (and multi_k) at most n_latents")
    if any(not 0 < m < n for m in prefixes) or list(prefixes) != sorted(set(prefixes)):
        raise ValueError(f"prefixes must increase strictly within (0, n_latents={n}); got {list(prefixes)}")
    dead_idx = None
    if dead_mask is not None and k_aux > 0:
        dead_idx = dead_mask.nonzero().squeeze(1)
        if dead_idx.numel() == 0:
            dead_idx = None
    if fast:
        x_hat, values, indices, aux_hat, multi_hat, prefix_hats = _FusedSparseTopKSAE.apply(
            x,
            b_pre,
            W_enc,
            b_enc,
            W_dec,
            k,
            n_selected,
            multi_k is not None,
            dead_idx,
            k_aux,
            batch_topk,
            tuple(prefixes),
        )
        return SaeCodes(
            x_hat,
            values,
            indices,
            aux_hat if dead_idx is not None else None,
            multi_hat if multi_k is not None else None,
            tuple(prefix_hats.unbind(0)),
        )
    pre = F.linear(x - b_pre, W_enc, b_enc)
    main = _select(pre, k, n_selected, multi_k is not None, batch_topk)
    code = torch.zeros(pre.numel(), dtype=pre.dtype, device=pre.device)
    code = code.scatter(0, main.entry_rows() * n + main.latents, main.pre.relu()).view_as(pre)
    x_hat = code @ W_dec.to(code.dtype) + b_pre
    aux_hat = multi_hat = None
    if dead_idx is not None:
        dead = torch.zeros(n, dtype=torch.bool, device=pre.device)
        dead[dead_idx] = True
        aux_pre, aux_idx = pre.masked_fill(~dead, float("-inf")).topk(
            min(k_aux, dead_idx.numel()), dim=-1, sorted=False
        )
        aux_hat = _dense_decode(aux_pre.relu(), aux_idx, W_dec)
    if multi_k is not None:
        multi_hat = _dense_decode(main.top_pre.relu(), main.top_idx, W_dec) + b_pre
    prefix_hats = tuple(code[:, :m] @ W_dec[:m].to(code.dtype) + b_pre for m in prefixes)
    return SaeCodes(x_hat, *main.padded(main.pre.relu()), aux_hat, multi_hat, prefix_hats)


class _Selection(NamedTuple):
    """The selected entries as flat arrays grouped by sample (row-major), plus the per-sample top list."""

    pre: torch.Tensor
    latents: torch.Tensor
    rows: torch.Tensor | None
    """Sample of each entry; None when every sample has exactly k (entry e belongs to sample e // k)."""
    sizes: torch.Tensor
    top_pre: torch.Tensor
    """(B, n_selected) per-sample top pre-activations (for multi-k); the top k when batch_topk is off."""
    top_idx: torch.Tensor

    def padded(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(values, latents) as (B, w) from flat per-entry values; short samples padded with 0 at latent 0."""
        batch = self.sizes.shape[0]
        if self.rows is None:
            return flat.view(batch, -1), self.latents.view(batch, -1)
        position = _positions(self.rows, self.sizes)
        width = max(int(self.sizes.max()), 1) if batch else 1
        values = flat.new_zeros(batch, width).index_put((self.rows, position), flat)
        latents = self.latents.new_zeros(batch, width).index_put((self.rows, position), self.latents)
        return values, latents

    def entry_rows(self) -> torch.Tensor:
        if self.rows is not None:
            return self.rows
        return torch.arange(self.sizes.shape[0], device=self.sizes.device).repeat_interleave(self.sizes)


def _positions(rows: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Each entry's place within its sample (entries grouped by sample, in order)."""
    starts = torch.zeros_like(sizes)
    starts[1:] = sizes[:-1].cumsum(0)
    return torch.arange(rows.numel(), device=rows.device) - starts[rows]


def _select(pre: torch.Tensor, k: int, n_selected: int, multi: bool, batch_topk: bool) -> _Selection:
    """The top k of each sample, or (BatchTopK) the top k*B of the whole batch, as flat sample-major entries."""
    batch, n = pre.shape
    if not batch_topk:
        top_pre, top_idx = pre.topk(n_selected, dim=-1, sorted=multi)
        sizes = torch.full((batch,), k, dtype=torch.long, device=pre.device)
        return _Selection(top_pre[:, :k].reshape(-1), top_idx[:, :k].reshape(-1), None, sizes, top_pre, top_idx)
    top_pre, top_idx = (
        pre.topk(n_selected, dim=-1, sorted=True) if multi else (pre[:, :0], pre.new_zeros(batch, 0, dtype=torch.long))
    )
    flat = _largest_entries(pre.reshape(-1), k * batch)
    rows = flat // n
    return _Selection(pre.reshape(-1)[flat], flat % n, rows, torch.bincount(rows, minlength=batch), top_pre, top_idx)


def _largest_entries(flat: torch.Tensor, count: int, sample_size: int = 1 << 16) -> torch.Tensor:
    """Ascending positions of the ``count`` largest entries of ``flat`` (every entry tied with the smallest of them).

    A full top-``count`` over B*n entries costs ~4x a per-row top-k on a CPU. Instead a strided sample
    gives a threshold a little below the answer, one comparison pass keeps the few candidates above it,
    and the exact cut is taken among those; the positions come out sorted, i.e. grouped by sample. If
    the sample was unlucky (too few candidates) the full selection runs: the result is always exact.
    """
    if count >= flat.numel():
        return torch.arange(flat.numel(), device=flat.device)
    stride = max(1, flat.numel() // sample_size)
    sample = flat[::stride]
    rank = min(sample.numel(), int(1.25 * count / stride) + 64)
    candidates = (flat >= sample.topk(rank, sorted=False).values.min()).nonzero().squeeze(1)
    if candidates.numel() < count:
        candidates = torch.arange(flat.numel(), device=flat.device)
    values = flat[candidates]
    picked = candidates[values >= values.topk(count, sorted=False).values.min()]
    if picked.numel() < count:  # NaN compares false: select them as topk does, so a diverged run shows a NaN loss
        return flat.topk(count, sorted=False).indices.sort().values
    return picked


# ---------------------------------------------------------------- reference path (plain autograd)


def _dense_decode(values: torch.Tensor, indices: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    code = torch.zeros(values.shape[0], W_dec.shape[0], dtype=values.dtype, device=values.device)
    return code.scatter_add(1, indices, values) @ W_dec.to(values.dtype)


# ---------------------------------------------------------------- fast path (sparse backward)


def _no_autocast(device: torch.device):
    return (
        torch.autocast(device_type=device.type, enabled=False)
        if torch.amp.is_autocast_available(device.type)
        else contextlib.nullcontext()
    )


def _csr(crow: torch.Tensor, columns: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    return torch.sparse_csr_tensor(crow, columns, values, shape, check_invariants=False)


class _FusedSparseTopKSAE(torch.autograd.Function):
    """The whole SAE forward in one autograd node, so the backward shares one sort of the selected entries.

    Forward: pre = (x - b_pre) W_enc^T + b_enc (the one dense GEMM); pick the top-k of each sample (or the
    top k*B of the batch), and the top-k_aux of pre over the dead latents. The picks form "bags", B of each
    kind: the main picks for x_hat; the dead picks for aux_hat; the top multi_k for multi_hat; the main picks
    below each prefix size for the prefix reconstructions. Bags may differ in size; each is decoded by an
    embedding bag over its rows of W_dec.
    Backward, with E = all picked entries (a few times B * k): the activation gradient is an SDDMM
    (bag-output gradient . W_dec row, only at the E entries); sorting E by latent once gives the (n x bags)
    and (n x B) CSR matrices whose products with the bag gradients and the centred input are the W_dec and
    W_enc gradients; b_enc's is a bincount; b_pre's is a column sum minus one mat-vec.
    """

    @staticmethod
    def forward(ctx, x, b_pre, W_enc, b_enc, W_dec, k, n_selected, multi, dead_idx, k_aux, batch_topk, prefixes):
        batch, n = x.shape[0], W_enc.shape[0]
        x_centred = x - b_pre
        pre = F.linear(x_centred, W_enc, b_enc)  # follows autocast
        main = _select(pre, k, n_selected, multi, batch_topk)
        bags = [(main.pre, main.latents, main.sizes)]  # (flat pre, flat latents, per-sample sizes)
        if dead_idx is not None:
            aux_pre, position = pre.index_select(1, dead_idx).topk(min(k_aux, dead_idx.numel()), dim=-1, sorted=False)
            bags.append(
                (aux_pre.reshape(-1), dead_idx[position].reshape(-1), main.sizes.new_full((batch,), aux_pre.shape[1]))
            )
        if multi:
            bags.append((main.top_pre.reshape(-1), main.top_idx.reshape(-1), main.sizes.new_full((batch,), n_selected)))
        if prefixes:
            rows = main.entry_rows()
            for m in prefixes:
                below = main.latents < m
                bags.append((main.pre[below], main.latents[below], torch.bincount(rows[below], minlength=batch)))
        with _no_autocast(W_dec.device):
            picked_pre = torch.cat([p for p, _, _ in bags]).to(W_dec.dtype)
            picked = torch.cat([i for _, i, _ in bags])
            offsets = torch.zeros(len(bags) * batch, dtype=torch.long, device=x.device)
            offsets[1:] = torch.cat([s for _, _, s in bags])[:-1].cumsum(0)
            decoded = F.embedding_bag(picked, W_dec, offsets, mode="sum", per_sample_weights=picked_pre.relu()).view(
                len(bags), batch, -1
            )
        ctx.save_for_backward(x_centred, W_enc, W_dec, picked, picked_pre, offsets, main.rows, main.sizes)
        ctx.layout = (batch, n, main.pre.numel(), dead_idx is not None, multi, len(prefixes))
        values, indices = main.padded(picked_pre[: main.pre.numel()].relu())
        ctx.mark_non_differentiable(indices)
        empty = decoded.new_zeros(0)
        aux_hat = decoded[1] if dead_idx is not None else empty
        multi_hat = decoded[1 + (dead_idx is not None)] + b_pre if multi else empty
        prefix_hats = decoded[len(bags) - len(prefixes) :] + b_pre
        return decoded[0] + b_pre, values, indices, aux_hat, multi_hat, prefix_hats

    @staticmethod
    def backward(ctx, grad_x_hat, grad_values, _grad_indices, grad_aux_hat, grad_multi_hat, grad_prefix_hats):
        x_centred, W_enc, W_dec, picked, picked_pre, offsets, rows, sizes = ctx.saved_tensors
        batch, n, n_main, has_aux, multi, n_prefixes = ctx.layout
        dtype = W_dec.dtype
        with _no_autocast(W_dec.device):
            with_bias = [grad_x_hat] + ([grad_multi_hat] if multi else []) + list(grad_prefix_hats.unbind(0))
            grad_bags = [grad_x_hat] + ([grad_aux_hat] if has_aux else []) + with_bias[1:]
            grad_out = torch.cat(grad_bags).to(dtype)  # (bags, d)
            n_bags, n_entries = grad_out.shape[0], picked.numel()
            bag_crow = torch.cat([offsets, offsets.new_full((1,), n_entries)])
            # d loss / d activation at every picked entry: <grad of its bag's output, its decoder row>
            pattern = _csr(bag_crow, picked, torch.zeros_like(picked_pre), (n_bags, n))
            grad_act = torch.sparse.sampled_addmm(pattern, grad_out, W_dec.t(), beta=0.0).values()
            if rows is None:
                grad_act[:n_main] += grad_values.reshape(-1).to(dtype)
            else:
                grad_act[:n_main] += grad_values[rows, _positions(rows, sizes)].to(dtype)
            grad_pre = grad_act * (picked_pre > 0)
            # one sort of the entries by latent serves both weight gradients
            order = torch.argsort(picked)
            latent_crow = torch.zeros(n + 1, dtype=torch.long, device=picked.device)
            latent_crow[1:] = torch.bincount(picked, minlength=n).cumsum(0)
            bag_of_entry = torch.repeat_interleave(torch.arange(n_bags, device=picked.device), bag_crow.diff())[order]
            grad_W_dec = _csr(latent_crow, bag_of_entry, picked_pre.relu()[order], (n, n_bags)) @ grad_out
            grad_W_enc = _csr(latent_crow, bag_of_entry % batch, grad_pre[order], (n, batch)) @ x_centred.to(dtype)
            grad_b_enc = torch.bincount(picked, weights=grad_pre, minlength=n).to(dtype)
            grad_b_pre = -(grad_b_enc @ W_enc.to(dtype))  # no (B, d) input gradient
            for grad in with_bias:
                grad_b_pre += grad.sum(0).to(dtype)
            grad_x = None
            if ctx.needs_input_grad[0]:
                sample_of_entry = (
                    torch.repeat_interleave(torch.arange(n_bags, device=picked.device), bag_crow.diff()) % batch
                )
                encoder_code = torch.sparse_coo_tensor(torch.stack([sample_of_entry, picked]), grad_pre, (batch, n))
                grad_x = torch.sparse.mm(encoder_code, W_enc.to(dtype))
        return grad_x, grad_b_pre, grad_W_enc, grad_b_enc, grad_W_dec, None, None, None, None, None, None, None
