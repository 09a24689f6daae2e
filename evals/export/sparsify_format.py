"""`--format safetensors`: weights under EleutherAI sparsify's key names, its ``cfg.json``, and the labels.

Folder layout (what ``sparsify.SparseCoder.load_from_disk(folder)`` reads, plus two JSON files of ours):

- ``sae.safetensors``: ``encoder.weight`` (n x d), ``encoder.bias`` (n), ``W_dec`` (n x d), ``b_dec`` (d), float32;
- ``cfg.json``: sparsify's ``SparseCoderConfig`` fields + ``d_in``;
- ``labels.json``: the SAE and one record per feature (label, explainer, scores, density);
- ``atlas.json``: where it came from, the key mapping and the encoder's formula.

Key mapping (SAE Atlas ``TopKSAE`` state dict -> sparsify): ``encoder.weight`` -> ``encoder.weight``,
``encoder.bias`` -> ``encoder.bias``, ``W_dec`` -> ``W_dec`` (rows unit-norm), ``b_pre`` -> ``b_dec``.
Both encode ``z = TopK_k(ReLU(W_enc (x - b_dec) + b_enc))`` and decode ``x_hat = W_dec^T z + b_dec``
(sparsify applies ReLU before the top-k, SAE Atlas after it: the same positive activations).

A BatchTopK SAE (the default) encodes at inference by a learned threshold instead:
``z = pre * (pre > threshold)``, ``pre = W_enc (x - b_dec) + b_enc``, so the number of active latents varies
per text. sparsify has no such activation, so ``cfg.json`` keeps its fields (``activation`` "topk", ``k`` the
mean number of active latents: what sparsify's own loader would run, an approximation) and adds
``"threshold"``; ``atlas.json`` states the exact rule. The weights are the same four tensors.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from evals.export.common import inference_threshold, labels_document, write_json
from evals.saes import StoredSAE

KEY_MAPPING = {"encoder.weight": "encoder.weight", "encoder.bias": "encoder.bias", "W_dec": "W_dec", "b_pre": "b_dec"}
"""SAE Atlas ``TopKSAE`` parameter -> sparsify ``SparseCoder`` parameter."""


def sparsify_config(sae) -> dict:
    """sparsify's ``SparseCoderConfig`` for a ``TopKSAE`` (num_latents set, so expansion_factor is informative),
    plus ``threshold`` for a BatchTopK SAE."""
    config = {
        "activation": "topk",
        "expansion_factor": max(sae.n_latents // sae.d, 1),
        "normalize_decoder": True,
        "num_latents": sae.n_latents,
        "k": sae.k,
        "multi_topk": False,
        "skip_connection": False,
        "transcode": False,
        "d_in": sae.d,
    }
    threshold = inference_threshold(sae)
    return config if threshold is None else config | {"threshold": threshold}


def sparsify_tensors(sae) -> dict[str, torch.Tensor]:
    state = sae.state_dict()
    return {theirs: state[ours].detach().to(torch.float32).contiguous().clone() for ours, theirs in KEY_MAPPING.items()}


def encode_rule(sae) -> str:
    """The exact inference formula of this SAE, in the exported tensors' names."""
    pre = "pre = encoder.weight @ (x - b_dec) + encoder.bias"
    threshold = inference_threshold(sae)
    rule = "z = TopK_k(ReLU(pre))" if threshold is None else f"z = pre * (pre > threshold), threshold = {threshold!r}"
    return f"{rule}; {pre}; x = the L2-normalised embedding of title + ' ' + abstract (whitespace collapsed)"


def write_sparsify_folder(folder: Path, sae_row: StoredSAE, sae, records: list[dict]) -> None:
    """The four files above, into ``folder`` (which the caller makes atomic)."""
    save_file(
        sparsify_tensors(sae),
        str(folder / "sae.safetensors"),
        metadata={"format": "pt", "source": "sae-atlas", "sae_id": str(sae_row.sae_id)},
    )
    write_json(folder / "cfg.json", sparsify_config(sae))
    write_json(folder / "labels.json", labels_document(sae_row, records))
    write_json(
        folder / "atlas.json",
        {
            "source": "SAE Atlas",
            "sae_id": sae_row.sae_id,
            "name": sae_row.name,
            "corpus": sae_row.corpus,
            "embed_model": sae_row.embed_model,
            "key_mapping": KEY_MAPPING,
            "encode": encode_rule(sae),
            "decode": "x_hat = W_dec.T @ z + b_dec",
        },
    )
