"""TopKSAE: initialisation, losses, decoder-norm helpers, bad input, and training on the real astro vectors."""

from __future__ import annotations

import pytest
import torch

from data.corpus import load_corpus_config
from data.embeddings import load_embeddings
from data.warehouse import open_reader
from trainer.sae import TopKSAE, geometric_median, normalised_mse
from trainer.step import DeadLatents, train_step


def test_init_ties_encoder_to_unit_norm_decoder():
    sae = TopKSAE(d=20, n_latents=70, k=5)
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(70))
    torch.testing.assert_close(sae.encoder.weight, sae.W_dec)
    assert sae.encoder.bias.abs().max() == 0 and sae.b_pre.abs().max() == 0
    assert sae.k_aux == 10 and sae.multi_k is None and sae.fast


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 70}, "k must be in"),
        ({"k": 80}, "k must be in"),
        ({"k": 0}, "k must be in"),
        ({"k": 5, "k_aux": 71}, "k_aux must be in"),
        ({"k": 5, "multi_k": 5}, "multi_k must be in"),
        ({"k": 5, "multi_k": 71}, "multi_k must be in"),
    ],
)
def test_bad_sizes_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TopKSAE(d=20, n_latents=70, **kwargs)


def test_b_pre_from_median_and_geometric_median():
    gen = torch.Generator().manual_seed(0)
    sample = torch.randn(501, 6, generator=gen) + torch.arange(6.0)
    sae = TopKSAE(6, 30, 3)
    sae.init_b_pre(sample)
    torch.testing.assert_close(sae.b_pre.data, sample.median(dim=0).values)
    sae.init_b_pre(sample, method="geometric_median")
    centre = sae.b_pre.data.double()

    def total_distance(point):
        return (sample.double() - point).norm(dim=1).sum()

    # the geometric median minimises the summed distance: no nearby point does better
    for _ in range(20):
        assert total_distance(centre) <= total_distance(
            centre + 1e-2 * torch.randn(6, dtype=torch.float64, generator=gen)
        )
    assert total_distance(centre) < total_distance(sample.double().median(dim=0).values)
    with pytest.raises(ValueError, match="unknown b_pre init method"):
        sae.init_b_pre(sample, method="mean")


def test_geometric_median_is_robust_to_outliers():
    points = torch.cat([torch.zeros(50, 3) + torch.tensor([1.0, 2.0, 3.0]), torch.full((10, 3), 1000.0)])
    torch.testing.assert_close(geometric_median(points).float(), torch.tensor([1.0, 2.0, 3.0]), atol=1e-3, rtol=0)


def test_forward_losses_follow_their_definitions():
    torch.manual_seed(0)
    sae = TopKSAE(16, 90, 4, k_aux=12, multi_k=16, multik_coef=0.25)
    x = torch.randn(40, 16)
    out = sae(x)
    variance = ((x - x.mean(0)) ** 2).mean()
    torch.testing.assert_close(out.nmse, ((out.x_hat - x) ** 2).mean() / variance)
    assert out.auxk == 0
    torch.testing.assert_close(out.loss, out.nmse + 0.25 * out.multik)
    assert out.values.shape == out.indices.shape == (40, 4) and (out.values >= 0).all()
    assert (out.indices.sort(dim=1).values.diff(dim=1) > 0).all(), "a latent selected twice in one sample"

    dead = torch.zeros(90, dtype=torch.bool)
    dead[::2] = True
    out = sae(x, dead)
    assert out.auxk > 0
    torch.testing.assert_close(out.loss, out.nmse + sae.auxk_coef * out.auxk + 0.25 * out.multik)
    torch.testing.assert_close(normalised_mse(x, x), torch.tensor(0.0))


def test_encode_decode_match_forward():
    torch.manual_seed(1)
    sae = TopKSAE(12, 50, 6)
    x = torch.randn(9, 12)
    values, indices = sae.encode(x)
    out = sae(x)
    torch.testing.assert_close(sae.decode(values, indices), out.x_hat)
    code = torch.zeros(9, 50).scatter_(1, indices, values)
    torch.testing.assert_close(code, torch.zeros(9, 50).scatter_(1, out.indices, out.values))


def test_decoder_helpers_keep_rows_unit_norm():
    torch.manual_seed(2)
    sae = TopKSAE(10, 40, 4)
    sae.W_dec.grad = torch.randn(40, 10)
    sae.remove_parallel_decoder_grad()
    torch.testing.assert_close((sae.W_dec.grad * sae.W_dec).sum(dim=1), torch.zeros(40), atol=1e-6, rtol=0)
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(40, 1) + 0.5)
    sae.normalise_decoder()
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(40))


def _train(sae: TopKSAE, train: torch.Tensor, steps: int, batch: int) -> list[float]:
    """The product's step (trainer.step); dead after one batch without firing, so AuxK runs every step."""
    opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
    dead = DeadLatents.fresh(sae.n_latents, dead_after=batch)
    losses = []
    for step in range(steps):
        x = train[(step * batch) % (len(train) - batch) :][:batch]
        out = train_step(sae, x, opt, dead)
        assert step == 0 or out.auxk > 0
        losses.append(out.nmse.item())
    return losses


def test_fast_and_reference_training_agree_on_astro_embeddings(astro_warehouse_template):
    """30 full optimiser steps on the real MiniLM astro vectors: same trajectory on both paths, loss falls."""
    with open_reader(astro_warehouse_template) as con:
        _, matrix = load_embeddings(con, load_corpus_config("astro").embed_model)
    vectors = torch.tensor(matrix[:4096], dtype=torch.float64)
    torch.manual_seed(0)
    fast = TopKSAE(vectors.shape[1], 768, 16, fast=True).double()
    fast.init_b_pre(vectors[:1024])
    reference = TopKSAE(vectors.shape[1], 768, 16, fast=False).double()
    reference.load_state_dict(fast.state_dict())
    fast_losses = _train(fast, vectors, steps=30, batch=256)
    reference_losses = _train(reference, vectors, steps=30, batch=256)
    assert fast_losses[-1] < 0.85 * fast_losses[0]
    torch.testing.assert_close(torch.tensor(fast_losses), torch.tensor(reference_losses), rtol=1e-6, atol=1e-8)
    for name, parameter in fast.state_dict().items():
        torch.testing.assert_close(parameter, reference.state_dict()[name], rtol=1e-6, atol=1e-8)


def test_paper_recipe_baseline_is_the_same_model():
    """The benchmark's baseline must compute what TopKSAE computes, or its timings compare different work."""
    from bench.paper_recipe import PaperAutoencoder

    torch.manual_seed(4)
    sae = TopKSAE(24, 120, 6, k_aux=12).double()
    x = torch.randn(50, 24, dtype=torch.float64)
    sae.init_b_pre(x)
    with torch.no_grad():
        sae.encoder.bias.normal_()
    paper = PaperAutoencoder(24, 120, 6, k_aux=12).double()
    paper.copy_from(sae)
    dead = torch.zeros(120, dtype=torch.bool)
    dead[::4] = True
    ours = sae(x, dead)
    loss, nmse, _values, indices = paper(x, dead.double())
    torch.testing.assert_close(nmse, ours.nmse)
    torch.testing.assert_close(indices.sort(dim=1).values, ours.indices.sort(dim=1).values)
    assert ours.auxk > 0
    # the paper zeroes live pre-activations instead of masking them: a different pick only where ReLU gives 0 anyway
    torch.testing.assert_close(loss, ours.loss)


def _astro_vectors(path, count: int) -> torch.Tensor:
    with open_reader(path) as con:
        _, matrix = load_embeddings(con, load_corpus_config("astro").embed_model)
    return torch.tensor(matrix[:count], dtype=torch.float32)


def test_batchtopk_learns_a_threshold_that_inference_encodes_with(astro_warehouse_template, tmp_path):
    """Training keeps the top k*B of each batch; the EMA of the smallest kept value is saved and encodes unseen docs."""
    from trainer.checkpoint import export_sae, load_sae

    vectors = _astro_vectors(astro_warehouse_template, 3072)
    train, unseen = vectors[:2560], vectors[2560:]
    torch.manual_seed(0)
    sae = TopKSAE(vectors.shape[1], 512, 8, batch_topk=True, threshold_beta=0.9)
    sae.init_b_pre(train)
    assert float(sae.threshold) < 0  # no threshold yet: inference falls back to the top k
    assert sae.encode(unseen)[0].shape == (len(unseen), 8)
    opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
    dead = DeadLatents.fresh(512, dead_after=len(train))
    smallest_kept = []
    for step in range(40):
        out = train_step(sae, train[(step * 256) % 2560 :][:256], opt, dead)
        assert int((out.values > 0).sum()) <= 8 * 256
        smallest_kept.append(float(out.values[out.values > 0].min()))
    threshold = float(sae.threshold)
    assert min(smallest_kept) <= threshold <= max(smallest_kept)

    values, indices = sae.eval().encode(unseen)
    pre = sae.pre_activations(unseen).detach()
    counts = (values > 0).sum(dim=1)
    assert counts.min() < counts.max(), "a threshold should give documents different numbers of latents"
    assert 2 <= counts.float().mean() <= 32, f"mean count {counts.float().mean():.1f} far from k = 8"
    code = torch.zeros_like(pre).scatter_add(1, indices, values)
    torch.testing.assert_close(code, torch.where(pre > threshold, pre, torch.zeros_like(pre)))

    loaded = load_sae(export_sae(sae, tmp_path / "sae.pt"))
    assert loaded.batch_topk and float(loaded.threshold) == threshold
    torch.testing.assert_close(loaded.encode(unseen)[0], values)


def test_matryoshka_loss_weights_each_prefix_and_levels_follow_the_prefixes():
    torch.manual_seed(3)
    sae = TopKSAE(16, 64, 6, prefixes=(4, 16), prefix_weights=(0.5, 0.3, 0.2))
    x = torch.randn(50, 16)
    out = sae(x)
    assert len(out.prefix_nmse) == 3 and out.prefix_nmse[-1] is out.nmse
    assert len({float(level) for level in out.prefix_nmse}) == 3  # each prefix reconstructs from its own latents
    torch.testing.assert_close(out.loss, 0.5 * out.prefix_nmse[0] + 0.3 * out.prefix_nmse[1] + 0.2 * out.nmse)
    assert sae.level_of_latents().tolist() == [0] * 4 + [1] * 12 + [2] * 48
    assert TopKSAE(16, 64, 6).level_of_latents().eq(0).all()
    with pytest.raises(ValueError, match="prefix_weights needs 3"):
        TopKSAE(16, 64, 6, prefixes=(4, 16), prefix_weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="prefixes must increase"):
        TopKSAE(16, 64, 6, prefixes=(16, 4))
