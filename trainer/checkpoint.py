"""Trained SAEs on disk: a plain weights file (``sae.pt``) next to the Lightning checkpoint.

``sae.pt`` = {"config": {d, n_latents, k, k_aux, auxk_coef, multi_k, multik_coef, batch_topk, threshold_beta, prefixes,
prefix_weights}, "state_dict": TopKSAE state (a BatchTopK SAE's inference ``threshold`` included)}; it
loads without Lightning. ``load_sae`` also accepts a Lightning ``.ckpt`` of this trainer.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import torch

from data.saes import SaeStatus
from data.warehouse import connection_file
from trainer.runs import run_dir_for
from trainer.sae import TopKSAE, prefix_sizes


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not fit the data it is used with."""


CONFIG_KEYS = (
    "d",
    "n_latents",
    "k",
    "k_aux",
    "auxk_coef",
    "multi_k",
    "multik_coef",
    "batch_topk",
    "threshold_beta",
    "prefixes",
    "prefix_weights",
)
"""What rebuilds a TopKSAE (``fast`` is a run-time choice, not part of the model)."""


def sae_config(sae: TopKSAE) -> dict:
    return {key: list(value) if isinstance(value := getattr(sae, key), tuple) else value for key in CONFIG_KEYS}


def export_sae(sae: TopKSAE, path: str | Path) -> Path:
    """Write the weights atomically (temp file + rename), so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu() for name, tensor in sae.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"config": sae_config(sae), "state_dict": state}, tmp)
    tmp.replace(path)
    return path


def load_sae(path: str | Path, expected_d: int | None = None) -> TopKSAE:
    """A TopKSAE on the CPU in eval mode, from ``sae.pt`` or a Lightning checkpoint of this trainer.

    With ``expected_d`` (the width of the vectors it will encode) a mismatch is a clear error.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no SAE checkpoint at {path}; train one with `just train <corpus>`")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if "config" in payload:
        config, state = payload["config"], payload["state_dict"]
    elif "hyper_parameters" in payload:
        hp = payload["hyper_parameters"]
        config = {key: hp[key] for key in CONFIG_KEYS if key in hp}
        config["prefixes"] = prefix_sizes(hp["n_latents"], hp.get("matryoshka"))
        state = {
            key.removeprefix("sae."): value for key, value in payload["state_dict"].items() if key.startswith("sae.")
        }
    else:
        raise CheckpointError(f"{path} is neither an exported sae.pt nor a Lightning checkpoint of this trainer")
    if expected_d is not None:
        check_embedding_width(config["d"], expected_d, path, "the embeddings given")
    sae = TopKSAE(**config)
    sae.load_state_dict(state)
    return sae.eval()


def load_sae_from_warehouse(con: duckdb.DuckDBPyConnection, sae_id: int, expected_d: int | None = None) -> TopKSAE:
    """The SAE a warehouse row points to (``saes.checkpoint``); see :func:`load_sae`."""
    rows = con.execute("SELECT checkpoint, status FROM saes WHERE sae_id = ?", [sae_id]).fetchall()
    if not rows:
        raise CheckpointError(f"no SAE with sae_id={sae_id} in this warehouse")
    checkpoint, status = rows[0]
    if status != SaeStatus.COMPLETE or not checkpoint:
        raise CheckpointError(f"SAE {sae_id} is not complete (status {status!r}); run its training again to finish it")
    return load_sae(resolve_checkpoint(connection_file(con), sae_id, checkpoint), expected_d)


def stored_checkpoint_path(warehouse: Path, weights: Path) -> str:
    """What ``saes.checkpoint`` holds: the path relative to the warehouse's folder, so the two can move together."""
    try:
        return Path(weights).resolve().relative_to(Path(warehouse).resolve().parent).as_posix()
    except ValueError:  # weights kept outside the warehouse's folder: only an absolute path finds them
        return str(Path(weights).resolve())


def resolve_checkpoint(warehouse: Path | None, sae_id: int, stored: str) -> Path:
    """The file behind ``saes.checkpoint``: relative to the warehouse's folder, or an absolute path written before
    paths were relative; when that folder has moved, the same run folder found beside the warehouse."""
    path = Path(stored)
    if warehouse is None:
        candidates = [path]
    else:
        first = path if path.is_absolute() else warehouse.parent / path
        # beside the warehouse: where runs are written now, and the stored tail (<stem>_runs/sae_<id>/sae.pt)
        candidates = [first, run_dir_for(warehouse, sae_id) / path.name, warehouse.parent.joinpath(*path.parts[-3:])]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    looked = ", ".join(dict.fromkeys(str(c) for c in candidates))
    raise CheckpointError(
        f"the checkpoint of SAE {sae_id} is missing: looked at {looked}. If the run folder was moved, put it back "
        "beside the warehouse (<warehouse stem>_runs/sae_<id>/); only if it is lost, train the SAE again"
    )


def check_embedding_width(sae_d: int, data_d: int, checkpoint: str | Path, data: str) -> None:
    """Raise a clear error when vectors and a checkpoint disagree on the embedding width."""
    if sae_d != data_d:
        raise CheckpointError(
            f"embedding width mismatch: the checkpoint {checkpoint} was trained on {sae_d}-d vectors but "
            f"{data} has {data_d}-d vectors; use a checkpoint trained on this embedding model or train a new SAE"
        )
