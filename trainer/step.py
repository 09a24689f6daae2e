"""One SAE training step, the only copy: the LightningModule and the benchmarks both run it.

The paper's order, explicit and checkable: forward (losses) -> backward -> remove each decoder row's
gradient along the row -> clip the global gradient norm -> optimiser step -> renormalise the decoder rows
-> move the BatchTopK inference threshold -> count which latents fired (dead-latent rule).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from trainer.sae import ForwardOutput, SumAcross, TopKSAE


class DeadLatents:
    """Samples since each latent last fired (value > 0); dead once that reaches ``dead_after``.

    ``since_fired`` is a tensor the caller may own (the LightningModule passes its checkpointed buffer),
    so a resumed run continues with the same counters.
    """

    def __init__(self, since_fired: torch.Tensor, dead_after: int) -> None:
        self.since_fired, self.dead_after = since_fired, dead_after

    @classmethod
    def fresh(cls, n_latents: int, dead_after: int, device: torch.device | str = "cpu") -> DeadLatents:
        return cls(torch.zeros(n_latents, dtype=torch.long, device=device), dead_after)

    def mask(self) -> torch.Tensor:
        return self.since_fired >= self.dead_after

    @torch.no_grad()
    def update(
        self, indices: torch.Tensor, values: torch.Tensor, batch_size: int, sum_across: SumAcross | None = None
    ) -> None:
        """Count one batch; with ``sum_across`` (DDP) the counts of every rank's shard, in one all-reduce."""
        fired = torch.bincount(indices[values > 0], minlength=self.since_fired.shape[0])
        counts = torch.cat([fired, fired.new_tensor([batch_size])])
        if sum_across is not None:
            counts = sum_across(counts)
        self.since_fired += counts[-1]
        self.since_fired[counts[:-1] > 0] = 0


def _backward(loss: torch.Tensor) -> None:
    loss.backward()


def _clip(sae: TopKSAE) -> Callable[[float], object]:
    return lambda max_norm: torch.nn.utils.clip_grad_norm_(sae.parameters(), max_norm, foreach=True)


def train_step(
    sae: TopKSAE,
    x: torch.Tensor,
    optimiser: torch.optim.Optimizer,
    dead: DeadLatents,
    grad_clip: float = 1.0,
    *,
    sum_across: SumAcross | None = None,
    backward: Callable[[torch.Tensor], None] = _backward,
    clip: Callable[[float], object] | None = None,
) -> ForwardOutput:
    """Run one step on batch ``x`` and return its forward output (losses not detached).

    ``backward`` and ``clip`` let Lightning run its own (``manual_backward``, ``clip_gradients``: loss
    scaling under fp16, DDP hooks); the defaults are plain autograd and ``clip_grad_norm_`` over every
    parameter, which is what Lightning runs at fp32 and bf16 (tests/test_step.py checks the two agree).
    """
    out = sae(x, dead.mask(), sum_across)
    optimiser.zero_grad(set_to_none=True)
    backward(out.loss)
    sae.remove_parallel_decoder_grad()
    (clip or _clip(sae))(grad_clip)
    optimiser.step()
    sae.normalise_decoder()
    sae.update_threshold(out.values)
    dead.update(out.indices, out.values, x.shape[0], sum_across)
    return out
