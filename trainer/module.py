"""The LightningModule: one top-k SAE, its training step and its metrics (no data, no I/O).

Optimisation is manual so the paper's order is explicit and checkable: backward (DDP has
all-reduced the gradients when it returns) -> remove the decoder gradient along each decoder row
-> clip the global norm -> Adam step -> renormalise the decoder rows.
"""
from __future__ import annotations

import lightning as L
import torch

from trainer.metrics import ReconstructionStats
from trainer.sae import SumAcross, TopKSAE


class SparseAutoencoderModule(L.LightningModule):
    """Trains a :class:`trainer.sae.TopKSAE` on embedding batches ``(x, doc_ids)``.

    Args:
        d: Embedding width; linked from the data module (the stored vectors decide it).
        n_latents: Number of latents (dictionary size), e.g. 8 x d.
        k: Active latents per document (top-k); must be < n_latents.
        k_aux: Dead latents used by the AuxK loss; default 2 k; must be <= n_latents.
        auxk_coef: Weight of the AuxK loss (the paper: 1/32).
        lr: Adam learning rate (the paper: 1e-4).
        adam_eps: Adam epsilon (OpenAI's recipe uses 6.25e-10; tiny gradients of unit-norm data need it small).
        grad_clip: Clip the global gradient norm to this value (the paper: 1.0).
        dead_after_samples: A latent is dead once it fired on none of this many training samples,
            counted across all ranks; default (null) = one epoch of the training split.
        b_pre_sample: Documents used to initialise b_pre.
        b_pre_init: ``median`` (per-dimension, the paper) or ``geometric_median``.
        multi_k: Also reconstruct from the top multi_k latents (e.g. 4 k, Gao et al.); null = off.
        multik_coef: Weight of the multi-k loss.
        fast: Sparse fast path (``trainer.kernels``); false = the dense reference path.
    """

    def __init__(
        self,
        d: int = 384,
        n_latents: int = 3072,
        k: int = 32,
        k_aux: int | None = None,
        auxk_coef: float = 1 / 32,
        lr: float = 1e-4,
        adam_eps: float = 6.25e-10,
        grad_clip: float = 1.0,
        dead_after_samples: int | None = None,
        b_pre_sample: int = 10_000,
        b_pre_init: str = "median",
        multi_k: int | None = None,
        multik_coef: float = 1 / 8,
        fast: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.sae = TopKSAE(d, n_latents, k, k_aux, auxk_coef, multi_k=multi_k, multik_coef=multik_coef, fast=fast)
        # Buffers, so they live in every checkpoint and a resumed run continues exactly.
        self.register_buffer("samples_since_fired", torch.zeros(n_latents, dtype=torch.long))
        self.register_buffer("b_pre_initialised", torch.zeros((), dtype=torch.bool))
        self._val_stats: ReconstructionStats | None = None

    # -- set-up -------------------------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer:
        # fused: one kernel for all parameters (CPU and CUDA since torch 2.4)
        return torch.optim.Adam(self.sae.parameters(), lr=self.hparams.lr, eps=self.hparams.adam_eps, fused=True)

    def on_fit_start(self) -> None:
        datamodule = self.trainer.datamodule
        if self.hparams.dead_after_samples is None:
            self.dead_after_samples = datamodule.train_size
        else:
            self.dead_after_samples = self.hparams.dead_after_samples
        if not bool(self.b_pre_initialised):  # a resumed run keeps its trained b_pre
            sample = datamodule.b_pre_sample(self.hparams.b_pre_sample).to(self.device)
            self.sae.init_b_pre(sample, self.hparams.b_pre_init)
            self.b_pre_initialised.fill_(True)

    # -- training -----------------------------------------------------------------------
    def dead_mask(self) -> torch.Tensor:
        return self.samples_since_fired >= self.dead_after_samples

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, _doc_ids = batch
        optimizer = self.optimizers()
        out = self.sae(x, self.dead_mask(), self._sum_across_ranks())
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(out.loss)
        self.sae.remove_parallel_decoder_grad()
        self.clip_gradients(optimizer, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm")
        optimizer.step()
        self.sae.normalise_decoder()
        self._count_firing(out.indices, out.values, x.shape[0])
        l0 = (out.values > 0).sum(dim=1).float().mean()
        self.log_dict(
            {
                "train/loss": out.loss.detach(),
                "train/fvu": out.nmse.detach(),  # the paper's normalised MSE is the FVU: one name, "fvu"
                "train/auxk": out.auxk.detach(),
                **({"train/multik": out.multik.detach()} if out.multik is not None else {}),
                "train/l0": l0,
                "train/dead_fraction": self.dead_mask().float().mean(),
            },
            on_step=True,
            on_epoch=False,
            prog_bar=False,
        )
        self.log("fvu", out.nmse.detach(), on_step=True, prog_bar=True, logger=False)
        return out.loss.detach()

    def _sum_across_ranks(self) -> SumAcross | None:
        if self.trainer.world_size == 1:
            return None
        return lambda tensor: self.trainer.strategy.reduce(tensor, reduce_op="sum")

    @torch.no_grad()
    def _count_firing(self, indices: torch.Tensor, values: torch.Tensor, batch_size: int) -> None:
        """Samples-since-fired per latent, summed over every rank's shard (one all-reduce per step)."""
        fired = torch.bincount(indices[values > 0], minlength=self.hparams.n_latents)
        counts = torch.cat([fired, fired.new_tensor([batch_size])])
        counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        self.samples_since_fired += counts[-1]
        self.samples_since_fired[counts[:-1] > 0] = 0

    # -- validation ---------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_stats = ReconstructionStats()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, _doc_ids = batch
        values, indices = self.sae.encode(x)
        self._val_stats.update(x, self.sae.decode(values, indices), values)

    def on_validation_epoch_end(self) -> None:
        metrics = self._val_stats.compute()
        self.log_dict({f"val/{name}": value for name, value in metrics.items()}, prog_bar=False)
