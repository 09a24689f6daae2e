"""The two ways to steer a query with SAE latents (the paper's section 5).

(a) ``add_directions``: q' = q + sum_up u * W_dec[up] - sum_down |d| * W_dec[down] (the paper's
    final evaluation, with d <= 0).
(b) ``clamp_latents``: set chosen latents of the query's code to given values and decode. With
    ``keep_error`` the SAE's reconstruction error is added back, so everything the SAE does not
    explain is preserved: q' = q + sum_l (new_l - old_l) * W_dec[l]. Without it the query is
    replaced by the decoded code (the app's behaviour; costs the SAE's NMSE in fidelity).
    Latents are not re-selected by top-k after clamping: the user's choice is kept as given.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping

import numpy as np
import torch

from evals.steering.errors import LatentOutOfRange
from trainer.sae import TopKSAE


def check_latents(latents: Iterable[int], n_latents: int) -> None:
    latents = list(latents)
    fractional = [latent for latent in latents if not _whole_number(latent)]
    if fractional:  # int() would silently truncate 1.5 to 1: another feature than the one asked for
        raise LatentOutOfRange(
            f"latent ids {fractional[:5]} are not whole numbers; a latent id is an integer in 0..{n_latents - 1}"
        )
    bad = [int(latent) for latent in latents if not 0 <= int(latent) < n_latents]
    if bad:
        raise LatentOutOfRange(
            f"latent ids {bad[:5]} are outside this SAE's range 0..{n_latents - 1}; pick latents listed for this SAE"
        )


def _whole_number(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and float(value).is_integer()


def add_directions(
    query: np.ndarray,
    decoder: torch.Tensor,
    up: Iterable[tuple[int, float]] = (),
    down: Iterable[tuple[int, float]] = (),
) -> np.ndarray:
    """(a): add each up latent's decoder row, remove each down latent's (strength sign ignored)."""
    up, down = list(up), list(down)
    check_latents([latent for latent, _ in up + down], decoder.shape[0])
    steered = torch.as_tensor(query, dtype=torch.float32).clone()
    with torch.no_grad():
        for latent, strength in up:
            steered += float(strength) * decoder[int(latent)]
        for latent, strength in down:
            steered -= abs(float(strength)) * decoder[int(latent)]
    return steered.numpy()


def clamp_latents(sae: TopKSAE, query: np.ndarray, clamps: Mapping[int, float], keep_error: bool = True) -> np.ndarray:
    """(b): set ``clamps`` (latent -> value) in the query's top-k code and decode."""
    check_latents(clamps.keys(), sae.n_latents)
    x = torch.as_tensor(query, dtype=torch.float32).reshape(1, -1)
    with torch.no_grad():
        values, indices = sae.encode(x)
        code = dict(zip(indices[0].tolist(), values[0].tolist(), strict=False))
        if keep_error:
            steered = x[0].clone()
            for latent, value in clamps.items():
                steered += (float(value) - code.get(int(latent), 0.0)) * sae.W_dec[int(latent)]
            return steered.numpy()
        code.update({int(latent): float(value) for latent, value in clamps.items()})
        latents = torch.tensor(list(code.keys()), dtype=torch.long).reshape(1, -1)
        amounts = torch.tensor(list(code.values()), dtype=torch.float32).reshape(1, -1)
        return sae.decode(amounts, latents)[0].numpy()
