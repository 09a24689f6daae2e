"""A ``SparseAutoEncoder`` whose inference keeps every latent above a learned threshold (BatchTopK SAEs).

This file is copied, alone, into a sentence-transformers export of a BatchTopK SAE and loaded from there
with ``SparseEncoder(folder, trust_remote_code=True)``, so it imports only torch and sentence-transformers.
The library's built-in module keeps a fixed top-k per text, which cannot express a BatchTopK encoder: at
inference such an SAE keeps every pre-activation above the threshold its training learned, so the number
of active features varies from text to text.
"""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder


class ThresholdSparseAutoEncoder(SparseAutoEncoder):
    """``z = pre * (pre > threshold)`` with ``pre = W_enc (x - pre_bias) + latent_bias`` at inference."""

    config_keys = [*SparseAutoEncoder.config_keys, "threshold"]

    def __init__(self, *args, threshold: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.threshold = threshold

    def forward(
        self, features: dict[str, torch.Tensor], max_active_dims: int | None = None, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Threshold at inference; ``kwargs`` are the base ``Module.forward``'s (this module takes none)."""
        if not torch.is_inference_mode_enabled():  # training this module again: the library's top-k rule
            return super().forward(features, max_active_dims)
        x, _ = self.prepare(features["sentence_embedding"])
        pre = self.encode_pre_act(x)
        latents = torch.where(pre > self.threshold, pre, torch.zeros_like(pre))
        if max_active_dims is not None:  # the caller's cap on active features, as the library applies it
            latents, _ = self.top_k(latents, max_active_dims, compute_aux=False)
        features["sentence_embedding"] = latents
        return features
