"""Typed errors of the steering API: each names the bad input and says what to do instead.

An unknown or unfinished SAE id raises ``evals.saes.UnknownSAE``, shared by every evaluation.
"""

from __future__ import annotations


class SteeringError(ValueError):
    """Base class: a request the steerable search cannot serve as given."""


class EmptyQuery(SteeringError):
    """A query text that is empty or only whitespace."""


class LatentOutOfRange(SteeringError, IndexError):
    """A latent id outside [0, n_latents) of the SAE."""


class ModelMismatch(SteeringError):
    """A query vector from another embedding model (or width) than the SAE's corpus."""


class DegenerateQuery(SteeringError):
    """A query vector that is zero, NaN or infinite (e.g. every direction was steered away)."""
