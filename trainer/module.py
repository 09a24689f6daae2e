"""The LightningModule: one top-k SAE, its training step and its metrics (no data, no I/O).

Optimisation is manual so the paper's order is explicit and checkable; the step itself is
``trainer.step.train_step``, the same function the benchmarks time (DDP has all-reduced the
gradients when its backward returns).
"""

from __future__ import annotations

from typing import Any, cast

import lightning as L
import torch

from trainer.metrics import ReconstructionStats
from trainer.sae import SumAcross, TopKSAE, prefix_sizes
from trainer.step import DeadLatents, train_step


class SparseAutoencoderModule(L.LightningModule):
    """Trains a :class:`trainer.sae.TopKSAE` on embedding batches ``(x, doc_ids)``.

    Args:
        d: Embedding width; linked from the data module (the stored vectors decide it).
        n_latents: Number of latents (dictionary size); null = the size rule (trainer.sizes) picks it from the
            number of training documents and d.
        k: Active latents per document (top-k; the mean under BatchTopK); must be < n_latents; null = the size rule.
        k_aux: Dead latents used by the AuxK loss; default 2 k; must be <= n_latents.
        auxk_coef: Weight of the AuxK loss (the paper: 1/32).
        lr: Adam learning rate (the paper: 1e-4).
        lr_decay: Share of the run (of trainer.max_steps) at the end over which the learning rate falls
            linearly to 0 (as in dictionary_learning's decay_start); 0 = constant.
        adam_eps: Adam epsilon (OpenAI's recipe uses 6.25e-10; tiny gradients of unit-norm data need it small).
        grad_clip: Clip the global gradient norm to this value (the paper: 1.0).
        dead_after_samples: A latent is dead once it fired on none of this many training samples,
            counted across all ranks; default (null) = one epoch of the training split.
        b_pre_sample: Documents used to initialise b_pre.
        b_pre_init: ``median`` (per-dimension, the paper) or ``geometric_median``.
        multi_k: Also reconstruct from the top multi_k latents (e.g. 4 k, Gao et al.); null = off.
        multik_coef: Weight of the multi-k loss.
        batch_topk: BatchTopK: train on the top k * batch activations of the whole batch (k becomes the mean
            per document) and encode by a learned threshold at inference.
        threshold_beta: EMA decay of the BatchTopK inference threshold (per step).
        matryoshka: Matryoshka prefix sizes as fractions of n_latents, e.g. [0.0625, 0.25] for n/16 and n/4
            (the whole dictionary is always the last level); null = off.
        prefix_weights: Loss weight of each Matryoshka level (prefixes, then the whole dictionary); null = equal.
        fast: Sparse fast path (``trainer.kernels``); false = the dense reference path.
    """

    # Buffers registered in __init__; Lightning's hparams is an AttributeDict (typed as a mapping).
    samples_since_fired: torch.Tensor
    b_pre_initialised: torch.Tensor
    hparams: Any  # type: ignore[assignment]

    def __init__(
        self,
        d: int = 384,
        n_latents: int | None = None,
        k: int | None = None,
        k_aux: int | None = None,
        auxk_coef: float = 1 / 32,
        lr: float = 1e-4,
        lr_decay: float = 0.0,
        adam_eps: float = 6.25e-10,
        grad_clip: float = 1.0,
        dead_after_samples: int | None = None,
        b_pre_sample: int = 10_000,
        b_pre_init: str = "median",
        multi_k: int | None = None,
        multik_coef: float = 1 / 8,
        batch_topk: bool = False,
        threshold_beta: float = 0.99,
        matryoshka: list[float] | None = None,
        prefix_weights: list[float] | None = None,
        fast: bool = True,
    ) -> None:
        super().__init__()
        if n_latents is None or k is None:
            raise ValueError(
                "n_latents and k are needed; `just train` fills them by the size rule (trainer.sizes.default_size)"
            )
        if not 0 <= lr_decay <= 1:
            raise ValueError(f"lr_decay is a share of the run in [0, 1]; got {lr_decay}")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.sae = TopKSAE(
            d,
            n_latents,
            k,
            k_aux,
            auxk_coef,
            multi_k=multi_k,
            multik_coef=multik_coef,
            batch_topk=batch_topk,
            threshold_beta=threshold_beta,
            prefixes=prefix_sizes(n_latents, matryoshka),
            prefix_weights=prefix_weights,
            fast=fast,
        )
        # Buffers, so they live in every checkpoint and a resumed run continues exactly.
        self.register_buffer("samples_since_fired", torch.zeros(n_latents, dtype=torch.long))
        self.register_buffer("b_pre_initialised", torch.zeros((), dtype=torch.bool))
        self._val_stats: ReconstructionStats | None = None

    # -- set-up -------------------------------------------------------------------------
    def configure_optimizers(self):
        # fused: one kernel for all parameters (CPU and CUDA since torch 2.4)
        optimizer = torch.optim.Adam(self.sae.parameters(), lr=self.hparams.lr, eps=self.hparams.adam_eps, fused=True)
        steps = self.trainer.max_steps
        if not self.hparams.lr_decay or steps is None or steps <= 0:
            return optimizer
        decay_start = int(steps * (1 - self.hparams.lr_decay))

        def factor(step: int) -> float:
            return 1.0 if step < decay_start else max(0.0, (steps - step) / max(1, steps - decay_start))

        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor)}

    def on_fit_start(self) -> None:
        datamodule = self.trainer.datamodule  # type: ignore[attr-defined]  # Lightning sets it on fit
        if self.hparams.dead_after_samples is None:
            self.dead_after_samples = datamodule.train_size
        else:
            self.dead_after_samples = self.hparams.dead_after_samples
        if not bool(self.b_pre_initialised):  # a resumed run keeps its trained b_pre
            sample = datamodule.b_pre_sample(self.hparams.b_pre_sample).to(self.device)
            self.sae.init_b_pre(sample, self.hparams.b_pre_init)
            self.b_pre_initialised.fill_(True)

    # -- training -----------------------------------------------------------------------
    @property
    def dead_latents(self) -> DeadLatents:
        """The dead-latent rule over the checkpointed ``samples_since_fired`` buffer."""
        return DeadLatents(self.samples_since_fired, self.dead_after_samples)

    def dead_mask(self) -> torch.Tensor:
        return self.dead_latents.mask()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, _doc_ids = batch
        optimizer = cast(torch.optim.Optimizer, self.optimizers())  # one optimizer, see configure_optimizers
        out = train_step(
            self.sae,
            x,
            optimizer,
            self.dead_latents,
            self.hparams.grad_clip,
            sum_across=self._sum_across_ranks(),
            backward=self.manual_backward,
            clip=lambda max_norm: self.clip_gradients(
                optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm"
            ),
        )
        scheduler = cast(torch.optim.lr_scheduler.LRScheduler | None, self.lr_schedulers())
        if scheduler is not None:  # manual optimisation: Lightning leaves stepping the schedule to us
            scheduler.step()
        l0 = (out.values > 0).sum(dim=1).float().mean()
        self.log_dict(
            {
                "train/loss": out.loss.detach(),
                "train/fvu": out.nmse.detach(),  # the paper's normalised MSE is the FVU: one name, "fvu"
                "train/auxk": out.auxk.detach(),
                **({"train/multik": out.multik.detach()} if out.multik is not None else {}),
                **{f"train/fvu_level{level}": value.detach() for level, value in enumerate(out.prefix_nmse)},
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

    # -- validation ---------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_stats = ReconstructionStats()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, _doc_ids = batch
        values, indices = self.sae.encode(x)
        assert self._val_stats is not None  # set in on_validation_epoch_start
        self._val_stats.update(x, self.sae.decode(values, indices), values)

    def on_validation_epoch_end(self) -> None:
        assert self._val_stats is not None
        metrics = self._val_stats.compute()
        self.log_dict({f"val/{name}": value for name, value in metrics.items()}, prog_bar=False)
