"""`python -m trainer sweep`: one complete SAE per (k, n) cell of the grid, n = expansion x d."""
from __future__ import annotations

import yaml

from data.warehouse import open_reader
from trainer.sweep import run_sweep


def test_sweep_trains_every_cell_of_the_grid(astro_warehouse, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({
        "k": [4, 8], "expansion": [0.25, 0.5],
        "overrides": {"max_steps": 2, "val_check_interval": 1, "batch_size": 128, "enable_progress_bar": False, "logger": False},
    }))
    sae_ids = run_sweep(["astro", "--config", str(grid), "--warehouse", str(astro_warehouse)])
    with open_reader(astro_warehouse) as con:
        rows = con.execute("SELECT sae_id, k, n_latents, status FROM saes ORDER BY sae_id").fetchall()
    assert [row[0] for row in rows] == sae_ids
    assert [(k, n, status) for _, k, n, status in rows] == [
        (4, 96, "complete"), (4, 192, "complete"), (8, 96, "complete"), (8, 192, "complete")
    ]
