"""The sparse fast path against the dense reference: same values, same gradient for every input."""

from __future__ import annotations

import pytest
import torch

from trainer.kernels import topk_sae_forward

# (batch, d, n_latents, k): n never a power of two except one control case
SHAPES = [(7, 10, 37, 3), (33, 24, 100, 8), (64, 48, 257, 16), (16, 32, 64, 4)]


def _parameters(d: int, n: int, dtype: torch.dtype, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    W_dec = torch.randn(n, d, generator=gen, dtype=dtype)
    W_dec = W_dec / W_dec.norm(dim=1, keepdim=True)
    return {
        "b_pre": torch.randn(d, generator=gen, dtype=dtype) * 0.1,
        "W_enc": (W_dec + 0.3 * torch.randn(n, d, generator=gen, dtype=dtype)),
        "b_enc": torch.randn(n, generator=gen, dtype=dtype) * 0.1,
        "W_dec": W_dec.clone(),
    }


def _run(params, x, k, fast, **options):
    leaves = {name: value.clone().requires_grad_() for name, value in params.items()}
    codes = topk_sae_forward(
        x, leaves["b_pre"], leaves["W_enc"], leaves["b_enc"], leaves["W_dec"], k, fast=fast, **options
    )
    # a generic scalar: random linear functionals of every output, so no gradient can hide behind a loss shape
    gen = torch.Generator().manual_seed(123)
    scalar = (codes.x_hat * torch.randn(codes.x_hat.shape, generator=gen, dtype=x.dtype)).sum()
    scalar = scalar + (codes.values * torch.randn(codes.values.shape, generator=gen, dtype=x.dtype)).sum()
    if codes.aux_hat is not None:
        scalar = scalar + (codes.aux_hat * torch.randn(codes.aux_hat.shape, generator=gen, dtype=x.dtype)).sum()
    if codes.multi_hat is not None:
        scalar = scalar + (codes.multi_hat * torch.randn(codes.multi_hat.shape, generator=gen, dtype=x.dtype)).sum()
    for prefix_hat in codes.prefix_hats:
        scalar = scalar + (prefix_hat * torch.randn(prefix_hat.shape, generator=gen, dtype=x.dtype)).sum()
    scalar.backward()
    grads = {name: leaf.grad for name, leaf in leaves.items()}
    if x.requires_grad:
        grads["x"] = x.grad.clone()
        x.grad = None
    return codes, grads


def _dense_code(values: torch.Tensor, indices: torch.Tensor, n: int) -> torch.Tensor:
    return torch.zeros(values.shape[0], n, dtype=values.dtype).scatter_add(1, indices, values.detach())


def _dead_mask(kind: str, n: int, k_aux: int, seed: int) -> torch.Tensor | None:
    if kind == "none":
        return None
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(n, dtype=torch.bool)
    if kind == "few":  # fewer dead latents than k_aux: every dead latent is picked
        mask[torch.randperm(n, generator=gen)[: max(1, k_aux // 3)]] = True
    elif kind == "many":
        mask[torch.randperm(n, generator=gen)[: n // 2]] = True
    elif kind == "all":
        mask[:] = True
    return mask


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-d{}-n{}-k{}".format(*s))
@pytest.mark.parametrize("dead", ["none", "few", "many", "all"])
@pytest.mark.parametrize("multi", [False, True], ids=["k", "multik"])
def test_fast_path_matches_reference_values_and_gradients(shape, dead, multi):
    batch, d, n, k = shape
    k_aux = min(2 * k, n)
    params = _parameters(d, n, torch.float64, seed=sum(shape))
    x = torch.randn(batch, d, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    options = {
        "dead_mask": _dead_mask(dead, n, k_aux, seed=n),
        "k_aux": k_aux,
        "multi_k": min(4 * k, n) if multi else None,
    }
    fast, fast_grads = _run(params, x, k, fast=True, **options)
    ref, ref_grads = _run(params, x, k, fast=False, **options)

    torch.testing.assert_close(fast.x_hat, ref.x_hat, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        _dense_code(fast.values, fast.indices, n), _dense_code(ref.values, ref.indices, n), rtol=0, atol=0
    )
    assert (fast.aux_hat is None) == (dead == "none")
    if fast.aux_hat is not None:
        torch.testing.assert_close(fast.aux_hat, ref.aux_hat, rtol=1e-10, atol=1e-10)
    assert (fast.multi_hat is None) == (not multi)
    if multi:
        torch.testing.assert_close(fast.multi_hat, ref.multi_hat, rtol=1e-10, atol=1e-10)
    for name in ("b_pre", "W_enc", "b_enc", "W_dec"):
        assert ref_grads[name].abs().max() > 0, f"reference gradient of {name} is zero: the comparison would be vacuous"
        torch.testing.assert_close(
            fast_grads[name], ref_grads[name], rtol=1e-9, atol=1e-10, msg=lambda m, name=name: f"grad {name}: {m}"
        )


def _prefixes(n: int) -> tuple[int, ...]:
    return (max(1, n // 16), n // 4)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-d{}-n{}-k{}".format(*s))
@pytest.mark.parametrize("dead", ["none", "many"])
@pytest.mark.parametrize("multi", [False, True], ids=["k", "multik"])
@pytest.mark.parametrize("architecture", ["batchtopk", "matryoshka", "matryoshka-batchtopk"])
def test_batchtopk_and_matryoshka_fast_path_matches_reference(shape, dead, multi, architecture):
    batch, d, n, k = shape
    k_aux = min(2 * k, n)
    params = _parameters(d, n, torch.float64, seed=sum(shape) + 1)
    x = torch.randn(batch, d, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    options = {
        "dead_mask": _dead_mask(dead, n, k_aux, seed=n),
        "k_aux": k_aux,
        "multi_k": min(4 * k, n) if multi else None,
        "batch_topk": "batchtopk" in architecture,
        "prefixes": _prefixes(n) if "matryoshka" in architecture else (),
    }
    fast, fast_grads = _run(params, x, k, fast=True, **options)
    ref, ref_grads = _run(params, x, k, fast=False, **options)

    torch.testing.assert_close(fast.x_hat, ref.x_hat, rtol=1e-10, atol=1e-10)
    assert fast.values.shape == ref.values.shape
    torch.testing.assert_close(
        _dense_code(fast.values, fast.indices, n), _dense_code(ref.values, ref.indices, n), rtol=0, atol=0
    )
    assert len(fast.prefix_hats) == len(ref.prefix_hats) == len(options["prefixes"])
    for fast_hat, ref_hat in zip(fast.prefix_hats, ref.prefix_hats, strict=False):
        torch.testing.assert_close(fast_hat, ref_hat, rtol=1e-10, atol=1e-10)
    if options["batch_topk"]:
        counts = (fast.values > 0).sum(dim=1)
        assert counts.sum() <= batch * k and counts.min() != counts.max(), (
            "BatchTopK should give samples different counts"
        )
    for name in ("b_pre", "W_enc", "b_enc", "W_dec"):
        assert ref_grads[name].abs().max() > 0, f"reference gradient of {name} is zero: the comparison would be vacuous"
        torch.testing.assert_close(
            fast_grads[name], ref_grads[name], rtol=1e-9, atol=1e-10, msg=lambda m, name=name: f"grad {name}: {m}"
        )


def test_batchtopk_keeps_exactly_the_k_times_batch_largest_pre_activations():
    batch, d, n, k = 40, 16, 90, 5
    params = _parameters(d, n, torch.float64, seed=21)
    x = torch.randn(batch, d, dtype=torch.float64)
    codes = topk_sae_forward(x, params["b_pre"], params["W_enc"], params["b_enc"], params["W_dec"], k, batch_topk=True)
    pre = torch.nn.functional.linear(x - params["b_pre"], params["W_enc"], params["b_enc"])
    threshold = pre.reshape(-1).topk(k * batch).values[-1]
    expected = (pre >= threshold) & (pre > 0)
    torch.testing.assert_close(_dense_code(codes.values, codes.indices, n) > 0, expected, rtol=0, atol=0)


@pytest.mark.parametrize("sampled_high", [False, True], ids=["sample-threshold", "unlucky-sample-falls-back"])
def test_batch_selection_is_exact_whatever_the_strided_sample_sees(sampled_high):
    from trainer.kernels import _largest_entries

    flat = torch.rand(10_000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    if sampled_high:  # the sample (every 100th entry) is all large: its threshold leaves too few candidates
        flat[::100] += 10
    picked = _largest_entries(flat, 150, sample_size=100)
    assert torch.equal(picked, flat.topk(150).indices.sort().values)


def test_matryoshka_prefix_reconstruction_uses_only_latents_below_the_prefix():
    batch, d, n, k = 30, 12, 64, 8
    params = _parameters(d, n, torch.float64, seed=5)
    x = torch.randn(batch, d, dtype=torch.float64)
    codes = topk_sae_forward(x, params["b_pre"], params["W_enc"], params["b_enc"], params["W_dec"], k, prefixes=(4, 16))
    code = _dense_code(codes.values, codes.indices, n)
    for m, prefix_hat in zip((4, 16), codes.prefix_hats, strict=False):
        torch.testing.assert_close(prefix_hat, code[:, :m] @ params["W_dec"][:m] + params["b_pre"])
    assert not torch.allclose(codes.prefix_hats[0], codes.x_hat)


def test_bad_prefixes_are_a_clear_error():
    params = _parameters(8, 10, torch.float32, seed=0)
    with pytest.raises(ValueError, match="prefixes must increase"):
        topk_sae_forward(
            torch.randn(4, 8), params["b_pre"], params["W_enc"], params["b_enc"], params["W_dec"], 2, prefixes=(5, 3)
        )


def test_auxk_gradient_reaches_the_encoder_only_at_dead_latents():
    """AuxK must train the dead latents' encoder rows (sparsify drops this gradient; we must not)."""
    batch, d, n, k = 32, 16, 60, 4
    params = _parameters(d, n, torch.float64, seed=3)
    x = torch.randn(batch, d, dtype=torch.float64)
    dead = _dead_mask("many", n, 2 * k, seed=5)
    leaves = {name: value.clone().requires_grad_() for name, value in params.items()}
    codes = topk_sae_forward(
        x, leaves["b_pre"], leaves["W_enc"], leaves["b_enc"], leaves["W_dec"], k, dead_mask=dead, k_aux=2 * k
    )
    codes.aux_hat.pow(2).sum().backward()
    touched = leaves["W_enc"].grad.abs().sum(dim=1) > 0
    assert touched.any()
    assert not (touched & ~dead).any(), "AuxK gradient leaked into live latents' encoder rows"
    assert leaves["b_pre"].grad.abs().max() > 0  # through the encoder input (aux_hat itself has no b_pre)


def test_input_gradient_matches_when_x_requires_grad():
    batch, d, n, k = 20, 12, 45, 5
    params = _parameters(d, n, torch.float64, seed=11)
    x = torch.randn(batch, d, dtype=torch.float64).requires_grad_()
    dead = _dead_mask("many", n, 10, seed=2)
    _, fast = _run(params, x, k, fast=True, dead_mask=dead, k_aux=10)
    _, ref = _run(params, x, k, fast=False, dead_mask=dead, k_aux=10)
    torch.testing.assert_close(fast["x"], ref["x"], rtol=1e-9, atol=1e-10)


def test_float32_paths_agree_at_float32_precision():
    batch, d, n, k = 256, 64, 300, 16
    params = _parameters(d, n, torch.float32, seed=1)
    x = torch.randn(batch, d)
    dead = _dead_mask("many", n, 32, seed=4)
    fast, fast_grads = _run(params, x, k, fast=True, dead_mask=dead, k_aux=32, multi_k=64)
    ref, ref_grads = _run(params, x, k, fast=False, dead_mask=dead, k_aux=32, multi_k=64)
    torch.testing.assert_close(fast.x_hat, ref.x_hat, rtol=1e-4, atol=1e-5)
    for name in ("b_pre", "W_enc", "b_enc", "W_dec"):
        torch.testing.assert_close(fast_grads[name], ref_grads[name], rtol=1e-3, atol=1e-4)


def test_fast_path_under_bf16_autocast_keeps_fp32_gradients():
    """Under autocast only the encoder GEMM drops precision; sparse kernels run in the parameters' dtype."""
    batch, d, n, k = 64, 32, 150, 8
    params = _parameters(d, n, torch.float32, seed=9)
    dead = _dead_mask("many", n, 16, seed=1)
    worst_per_batch = []
    for seed in range(8):  # seeded batches: the outcome never depends on which tests ran before
        x = torch.randn(batch, d, generator=torch.Generator().manual_seed(seed))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast, fast_grads = _run(params, x, k, fast=True, dead_mask=dead, k_aux=16)
            ref, ref_grads = _run(params, x, k, fast=False, dead_mask=dead, k_aux=16)
        assert fast.x_hat.dtype == torch.float32
        assert all(grad.dtype == torch.float32 for grad in fast_grads.values())
        torch.testing.assert_close(
            _dense_code(fast.values.float(), fast.indices, n),
            _dense_code(ref.values.float(), ref.indices, n),
            rtol=0,
            atol=0,
        )
        torch.testing.assert_close(fast.x_hat, ref.x_hat.float(), rtol=2e-2, atol=2e-2)
        # the reference's own backward GEMMs run in bf16 (8-bit mantissa): a few per cent apart is expected,
        # up to about 10% on an unlucky batch (measured over 30 seeds: median 2.4%, worst 9.5%)
        worst_per_batch.append(
            max(
                float((fast_grads[name] - ref_grads[name]).norm() / ref_grads[name].norm())
                for name in ("b_pre", "W_enc", "b_enc", "W_dec")
            )
        )
    worst_per_batch.sort()
    assert worst_per_batch[len(worst_per_batch) // 2] < 5e-2, f"gradient relative errors {worst_per_batch}"
    assert worst_per_batch[-1] < 0.15, f"gradient relative errors {worst_per_batch}"


def test_selecting_more_latents_than_exist_is_a_clear_error():
    params = _parameters(8, 10, torch.float32, seed=0)
    with pytest.raises(ValueError, match="at most n_latents"):
        topk_sae_forward(torch.randn(4, 8), params["b_pre"], params["W_enc"], params["b_enc"], params["W_dec"], 11)
