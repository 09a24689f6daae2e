"""The life of a ``saes`` row: registered as 'training', flipped to 'complete' with its outputs.

Readers only trust rows with status 'complete'. A run killed before that stays 'training' with
its run folder on disk; training the same configuration again finds it and finishes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from data.saes import SaeStatus
from data.warehouse import open_writer, transaction


@dataclass(frozen=True)
class RunRecord:
    """Where one SAE's files live and whether an earlier attempt left a checkpoint to resume."""

    sae_id: int
    name: str
    run_dir: Path
    """Lightning checkpoints, the exported ``sae.pt`` and the per-step metrics CSV."""

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / "last.ckpt"

    @property
    def weights(self) -> Path:
        return self.run_dir / "sae.pt"

    def resume_from(self) -> Path | None:
        return self.last_checkpoint if self.last_checkpoint.exists() else None


def run_dir_for(warehouse: Path, sae_id: int) -> Path:
    """Run folders sit next to the warehouse they belong to: ``<dir>/<stem>_runs/sae_<id>``."""
    warehouse = Path(warehouse).resolve()
    return warehouse.parent / f"{warehouse.stem}_runs" / f"sae_{sae_id}"


def begin_run(
    warehouse: Path, name: str, corpus: str, embed_model: str, d: int, n_latents: int, k: int, k_aux: int, config: dict
) -> RunRecord:
    """Resume the latest unfinished run of this exact configuration, or register a new one."""
    config_json = json.dumps(config, sort_keys=True)
    with open_writer(warehouse) as con, transaction(con):
        unfinished = con.execute(
            "SELECT sae_id FROM saes WHERE name = ? AND status = ? AND config = ?::JSON ORDER BY sae_id DESC LIMIT 1",
            [name, SaeStatus.TRAINING.value, config_json],
        ).fetchall()
        if unfinished:
            sae_id = unfinished[0][0]
        else:
            sae_id = con.execute("SELECT coalesce(max(sae_id), 0) + 1 FROM saes").fetchall()[0][0]
            con.execute(
                """
                INSERT INTO saes (sae_id, name, corpus, embed_model, d, n_latents, k, k_aux, config, status, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?::JSON, ?, now())
                """,
                [sae_id, name, corpus, embed_model, d, n_latents, k, k_aux, config_json, SaeStatus.TRAINING.value],
            )
    return RunRecord(sae_id, name, run_dir_for(warehouse, sae_id))


def mark_failed(warehouse: Path, sae_id: int, error: str) -> None:
    """Record why a run stopped; its earlier rows (and every other run) stay as they are."""
    with open_writer(warehouse) as con:
        con.execute(
            "UPDATE saes SET status = ?, metrics = ?::JSON, finished_at = now() WHERE sae_id = ? AND status = ?",
            [SaeStatus.FAILED.value, json.dumps({"error": error[:2000]}), sae_id, SaeStatus.TRAINING.value],
        )
