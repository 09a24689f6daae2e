"""The architecture x n x k grid (``conf/sweep.yaml``): one complete SAE per cell, in the corpus warehouse.

Judging the cells on held-out numbers is ``evals.sweep`` (``just sweep <corpus>`` runs both).
"""
from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from data.settings import CONF_DIR
from trainer.api import cli_args


@dataclass
class SweepGrid:
    """A validated ``conf/sweep.yaml``."""

    k: list[int]
    n_latents: list[int] | None = None
    """Dictionary sizes; or give ``expansion`` (n = expansion x d) instead."""
    expansion: list[float] | None = None
    architectures: dict[str, dict] = field(default_factory=lambda: {"topk": {}})
    """Name -> model options (flat names as in ``trainer.api.train_sae``), e.g. ``batchtopk: {batch_topk: true}``."""
    overrides: dict = field(default_factory=dict)
    """Options for every cell (flat names), e.g. ``max_steps``."""

    @classmethod
    def load(cls, path: Path) -> SweepGrid:
        if not path.exists():
            raise FileNotFoundError(f"no sweep grid {path}; see conf/sweep.yaml")
        raw = yaml.safe_load(path.read_text()) or {}
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(cls.__dataclass_fields__)}")
        if "k" not in raw or ("n_latents" in raw) == ("expansion" in raw):
            raise ValueError(f"{path}: give k and exactly one of n_latents or expansion (lists)")
        grid = cls(**raw)
        sizes = grid.n_latents if grid.n_latents is not None else grid.expansion
        for name, values in (("k", grid.k), ("n_latents or expansion", sizes)):
            if not isinstance(values, list) or not values or not all(isinstance(v, (int, float)) and v > 0 for v in values):
                raise ValueError(f"{path}: {name} must be a non-empty list of positive numbers, got {values!r}")
        if not isinstance(grid.architectures, dict) or not all(isinstance(v, dict) for v in grid.architectures.values()):
            raise ValueError(f"{path}: architectures must map a name to model options, e.g. {{batchtopk: {{batch_topk: true}}}}")
        return grid

    def sizes(self, d: int) -> list[int]:
        return list(self.n_latents) if self.n_latents is not None else [int(e * d) for e in self.expansion]


def run_sweep(corpus: str, argv: list[str]) -> list[int]:
    parser = argparse.ArgumentParser(prog="python -m trainer sweep")
    parser.add_argument("--grid", type=Path, default=CONF_DIR / "sweep.yaml", help="YAML: architectures, n_latents (or expansion), k, overrides")
    parser.add_argument("--warehouse", type=Path, default=None, help="DuckDB file (default artifacts/<corpus>.duckdb)")
    args, extra = parser.parse_known_args(argv)
    grid = SweepGrid.load(args.grid)
    from trainer.cli import AtlasCLI, run_pipeline

    results = []
    cells = itertools.product(grid.architectures.items(), grid.sizes(_dim(args.warehouse, corpus)), grid.k)
    for (architecture, options), n_latents, k in cells:
        overrides = {**grid.overrides, **options, "n_latents": n_latents, "k": k, "name": f"{corpus}-{architecture}-n{n_latents}-k{k}"}
        cli = AtlasCLI(args=cli_args(args.warehouse, corpus, **overrides) + extra)
        results.append((architecture, n_latents, k, run_pipeline(cli)))
    table = Table(title=f"sweep {corpus}")
    for column in ("architecture", "n", "k", "sae_id"):
        table.add_column(column)
    for row in results:
        table.add_row(*map(str, row))
    Console(stderr=True).print(table)
    return [sae_id for *_, sae_id in results]


def _dim(warehouse: Path | None, corpus: str) -> int:
    from trainer.datamodule import EmbeddingDataModule

    return EmbeddingDataModule(corpus=corpus, warehouse=str(warehouse) if warehouse else None).dim
