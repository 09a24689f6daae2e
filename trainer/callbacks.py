"""Cross-cutting concerns of a fit: stopping on non-finite numbers, measuring throughput."""

from __future__ import annotations

import time

import lightning as L
import torch
from lightning.pytorch.callbacks import RichProgressBar


class NonFiniteError(FloatingPointError):
    """A batch or a loss was NaN/inf; the message names the step and the documents."""


class NaNGuard(L.Callback):
    """Stops the fit on a non-finite input, loss or weight, naming the step and the document ids.

    Inputs and the loss are checked before the backward pass, so a NaN batch never reaches the
    weights. Under DDP that decision is gathered from every rank, so all ranks stop together (none
    hangs in an all-reduce) and every rank's error names the bad documents, whichever shard held them.

    The loss does not see every weight: the sparse decoder reads only the rows of the selected
    latents, so a NaN row of a latent no sample selected leaves the loss finite. The weights are
    therefore checked too, after each update and before any checkpoint of that step is written
    (Lightning runs checkpoint callbacks last); they are the same on every rank, so every rank
    reaches the same verdict without a collective.
    """

    def __init__(self, max_ids: int = 20) -> None:
        self.max_ids = max_ids
        self._doc_ids: torch.Tensor | None = None

    def _gather_ids(self, pl_module, ids: torch.Tensor) -> list[int]:
        """Up to ``max_ids`` ids from each rank, gathered everywhere (padding = -1)."""
        padded = torch.full((self.max_ids,), -1, dtype=torch.long, device=pl_module.device)
        ids = ids[: self.max_ids].to(pl_module.device)
        padded[: len(ids)] = ids
        gathered = pl_module.all_gather(padded).reshape(-1)
        return [int(i) for i in gathered.tolist() if i >= 0]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        x, doc_ids = batch
        self._doc_ids = doc_ids
        finite = torch.isfinite(x).all(dim=1).cpu()
        bad = self._gather_ids(pl_module, doc_ids[~finite])
        if bad:
            raise NonFiniteError(
                f"step {trainer.global_step}: {len(bad)} input vectors contain NaN/inf, doc_ids "
                f"{bad[: self.max_ids]}; fix or re-embed them (`just data <corpus>`) and train again"
            )

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        ids = self._doc_ids if self._doc_ids is not None else torch.empty(0, dtype=torch.long)
        flagged = ids[:1] if not bool(torch.isfinite(loss)) else ids[:0]
        if self._gather_ids(pl_module, flagged):
            shown = ids.tolist()[: self.max_ids]
            raise NonFiniteError(
                f"step {trainer.global_step}: the loss is not finite on at least one rank "
                f"(here {float(loss.detach())}); this rank's batch has doc_ids {shown}"
                f"{' ...' if len(ids) > self.max_ids else ''}; lower the learning rate"
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        named = list(pl_module.named_parameters())
        finite = torch.stack([torch.isfinite(p).all() for _, p in named]).tolist()  # one device sync
        bad = [name for (name, _), ok in zip(named, finite, strict=True) if not ok]
        if bad:
            ids = batch[1].tolist()
            raise NonFiniteError(  # global_step already counts this step's update: name the step as above
                f"step {trainer.global_step - 1}: the weights {bad} are not finite after the update although the "
                f"loss was; this rank's batch has doc_ids {ids[: self.max_ids]}"
                f"{' ...' if len(ids) > self.max_ids else ''}; lower the learning rate"
            )


class Throughput(L.Callback):
    """Logs global samples/s of every step (wall time between consecutive batch ends)."""

    def __init__(self) -> None:
        self._last: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._last is None:
            self._last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        assert self._last is not None  # set in on_train_batch_start
        seconds = max(now - self._last, 1e-9)
        self._last = now
        samples = batch[0].shape[0] * trainer.world_size
        pl_module.log("train/samples_per_s", samples / seconds, on_step=True, on_epoch=False)

    def on_validation_end(self, trainer, pl_module) -> None:
        self._last = None  # do not count validation time as a training step


class StepProgressBar(RichProgressBar):
    """Lightning's rich bar, titled "epoch N" instead of "Epoch N/-2" when training is bounded by steps only."""

    def _get_train_description(self, current_epoch: int) -> str:
        if self.trainer.max_epochs is None or self.trainer.max_epochs < 0:
            return f"epoch {current_epoch} of a {self.trainer.max_steps}-step run"
        return super()._get_train_description(current_epoch)
