"""What ``python -m trainer train`` prints when a run completes: held-out quality, where the outputs are, what next."""

from __future__ import annotations

import json
from pathlib import Path

from data.saes import SaePurpose
from data.settings import warehouse_path
from data.warehouse import open_reader
from trainer.runs import run_dir_for


def training_summary(warehouse: Path, sae_id: int) -> str:
    """A few lines from the stored ``saes`` row: test and train FVU, dead fraction, files, next commands."""
    with open_reader(warehouse) as con:
        [(name, corpus, n_latents, k, metrics, purpose)] = con.execute(
            "SELECT name, corpus, n_latents, k, metrics, config->>'purpose' FROM saes WHERE sae_id = ?", [sae_id]
        ).fetchall()
        [(rows,)] = con.execute("SELECT count(*) FROM activations WHERE sae_id = ?", [sae_id]).fetchall()
    metrics = json.loads(metrics) if isinstance(metrics, str) else dict(metrics or {})
    run_dir = run_dir_for(warehouse, sae_id)

    def number(key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else f"{value:.3f}"

    default = Path(warehouse).resolve() == warehouse_path(corpus).resolve()
    flags = "" if default else f" --warehouse {warehouse}"
    dashboard = f"just dashboard {corpus}" if default else f"SAE_ATLAS_WAREHOUSE={warehouse} just dashboard"
    # an atlas SAE's summary does not suggest training another
    atlas_hint = (
        []
        if purpose == SaePurpose.ATLAS
        else [f"  just atlas {corpus}{flags}   # a sparse SAE to read: labels, families"]
    )
    return "\n".join(
        [
            f"SAE {sae_id} complete: {name} (n {n_latents}, k {k}, {metrics.get('steps', '?')} steps)",
            f"  test FVU {number('test_fvu')}  train FVU {number('train_fvu')}  "
            f"dead fraction {number('dead_fraction')}",
            f"  weights  {run_dir / 'sae.pt'}",
            f"  rows     {warehouse} ({rows:,} activations; saes, latents, latent_neighbors)",
            "next:",
            f"  just interpret {corpus} --sae-id {sae_id}{flags}   # label and score the features",
            f"  just families {corpus} --sae-id {sae_id}{flags}    # group them into families",
            f"  just report {corpus} --sae-id {sae_id}{flags}      # the quality card on the test split",
            f"  {dashboard}   # explore in the browser",
            *atlas_hint,
        ]
    )
