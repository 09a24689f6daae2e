"""One training step (trainer.step): the LightningModule's fit and the benchmarks' loop give the same weights."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from trainer.datamodule import EmbeddingDataModule, GlobalBatchShards
from trainer.module import SparseAutoencoderModule
from trainer.sae import TopKSAE
from trainer.step import DeadLatents, train_step

STEPS, BATCH, DEAD_AFTER, N, K = 6, 128, 128, 768, 4


@pytest.mark.parametrize("lr_decay", [0.0, 0.5], ids=["constant-lr", "linear-decay"])
def test_module_fit_and_plain_step_loop_reach_the_same_weights(astro_warehouse, lr_decay):
    """A real Lightning fit (manual_backward, clip_gradients, LightningOptimizer) against the plain loop the
    benchmarks run (autograd, clip_grad_norm_), from the same weights on the same batches."""
    data = EmbeddingDataModule(corpus="astro", warehouse=str(astro_warehouse), batch_size=BATCH)
    torch.manual_seed(0)
    module = SparseAutoencoderModule(
        d=data.dim, n_latents=N, k=K, lr=1e-3, lr_decay=lr_decay, dead_after_samples=DEAD_AFTER
    )
    initial = {name: value.clone() for name, value in module.sae.state_dict().items()}
    trainer = L.Trainer(
        max_steps=STEPS,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == STEPS

    sae = TopKSAE(data.dim, N, K)
    sae.load_state_dict(initial)
    sae.init_b_pre(data.b_pre_sample(module.hparams.b_pre_sample))
    optimiser = torch.optim.Adam(sae.parameters(), lr=1e-3, eps=module.hparams.adam_eps, fused=True)
    dead = DeadLatents.fresh(N, DEAD_AFTER)
    decay_start = int(STEPS * (1 - lr_decay))  # the schedule the module documents, written out independently
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: 1.0 if step < decay_start or not lr_decay else (STEPS - step) / max(1, STEPS - decay_start),
    )
    x_train = torch.from_numpy(data.matrix[data.train_rows])
    batches = GlobalBatchShards(
        x_train, torch.from_numpy(data.doc_ids[data.train_rows]), BATCH, 0, 1, data.seed, lambda: 0
    )
    auxk_ran = False
    for _, (x, _doc_ids) in zip(range(STEPS), batches, strict=False):
        auxk_ran |= bool(train_step(sae, x, optimiser, dead).auxk > 0)
        schedule.step()
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(optimiser.param_groups[0]["lr"], abs=1e-12)
    assert optimiser.param_groups[0]["lr"] == (0.0 if lr_decay else 1e-3)

    assert auxk_ran, "no latent went dead: the dead-latent path of the step was not compared"
    for name, value in module.sae.state_dict().items():
        assert not torch.equal(value, initial[name]) or name == "b_pre", f"{name} never moved: a vacuous comparison"
        torch.testing.assert_close(
            sae.state_dict()[name], value, rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}"
        )
    assert torch.equal(dead.since_fired, module.samples_since_fired)
