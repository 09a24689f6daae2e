"""The k x n grid (``conf/sweep.yaml``): one complete SAE per cell, in the corpus warehouse."""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from data.settings import CONF_DIR
from trainer.api import cli_args


def run_sweep(corpus: str, argv: list[str]) -> list[int]:
    parser = argparse.ArgumentParser(prog="python -m trainer sweep")
    parser.add_argument("--grid", type=Path, default=CONF_DIR / "sweep.yaml", help="YAML with k, expansion and overrides")
    parser.add_argument("--warehouse", type=Path, default=None, help="DuckDB file (default artifacts/<corpus>.duckdb)")
    args, extra = parser.parse_known_args(argv)
    grid = yaml.safe_load(args.grid.read_text())
    from trainer.cli import AtlasCLI, run_pipeline

    results = []
    for k, expansion in itertools.product(grid["k"], grid["expansion"]):
        overrides = dict(grid.get("overrides") or {}, k=k)
        base = cli_args(args.warehouse, corpus, **overrides)
        cli = AtlasCLI(args=base + ["--model.n_latents", str(int(expansion * _dim(args.warehouse, corpus)))] + extra)
        results.append((k, expansion, run_pipeline(cli)))
    table = Table(title=f"sweep {corpus}")
    for column in ("k", "n / d", "sae_id"):
        table.add_column(column)
    for k, expansion, sae_id in results:
        table.add_row(str(k), str(expansion), str(sae_id))
    Console(stderr=True).print(table)
    return [sae_id for _, _, sae_id in results]


def _dim(warehouse: Path | None, corpus: str) -> int:
    from trainer.datamodule import EmbeddingDataModule

    return EmbeddingDataModule(corpus=corpus, warehouse=str(warehouse) if warehouse else None).dim
