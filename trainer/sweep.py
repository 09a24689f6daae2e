"""The k x n grid (``conf/sweep.yaml``): one complete SAE per cell, in the corpus warehouse."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, warehouse_of
from data.settings import CONF_DIR
from trainer.api import cli_args

SWEEP_CONFIG = CONF_DIR / "sweep.yaml"


@dataclass(frozen=True)
class SweepGrid:
    """The paper's grid scaled to the embedding width d: every k with every n = expansion x d."""

    k: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    """Active latents per document, one grid row each."""
    expansion: list[float] = field(default_factory=lambda: [2.0, 4.0, 8.0])
    """n / d, one grid column each (n = int(expansion x d))."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Training settings of every cell, flat names as in ``trainer.api.train_sae`` (e.g. max_steps: 300)."""

    def __post_init__(self) -> None:
        if not self.k or not self.expansion:
            raise ValueError(f"sweep grid: k and expansion need at least one value each; got k={self.k}, "
                             f"expansion={self.expansion}")
        if any(k < 1 for k in self.k) or any(e <= 0 for e in self.expansion):
            raise ValueError(f"sweep grid: every k must be >= 1 and every expansion > 0; got k={self.k}, "
                             f"expansion={self.expansion}")
        fixed = sorted({"k", "n_latents", "corpus", "warehouse"} & set(self.overrides))
        if fixed:
            raise ValueError(f"sweep grid: overrides may not set {fixed}; the grid and the command line do")

    def cells(self, d: int) -> list[tuple[int, int]]:
        """(k, n_latents) of every cell, refused as a whole before any training when one cannot train."""
        cells = [(k, int(expansion * d)) for k, expansion in itertools.product(self.k, self.expansion)]
        bad = [(k, n) for k, n in cells if k >= n]
        if bad:
            raise ValueError(f"sweep grid: k must be below n = expansion x d (d = {d}); these (k, n) cells are not: {bad}")
        return cells


def run_sweep(argv: list[str]) -> list[int]:
    """``python -m trainer sweep <corpus> [--warehouse F] [--config grid.yaml]``: train every cell."""
    parser = command_parser("python -m trainer sweep", __doc__, config=SweepGrid, config_file=SWEEP_CONFIG)
    args = parser.parse_args(argv)
    grid = config_from(parser, args, SweepGrid)
    warehouse = warehouse_of(args)
    from trainer.cli import AtlasCLI, train

    results = []
    for k, n_latents in grid.cells(_dim(warehouse, args.corpus)):
        cell = cli_args(warehouse, args.corpus, **{**grid.overrides, "k": k, "n_latents": n_latents})
        results.append((k, n_latents, train(AtlasCLI(args=cell))))
    table = Table(title=f"sweep {args.corpus}")
    for column in ("k", "n", "sae_id"):
        table.add_column(column)
    for k, n_latents, sae_id in results:
        table.add_row(str(k), str(n_latents), str(sae_id))
    Console(stderr=True).print(table)
    return [sae_id for _, _, sae_id in results]


def _dim(warehouse: Path, corpus: str) -> int:
    from trainer.datamodule import EmbeddingDataModule

    return EmbeddingDataModule(corpus=corpus, warehouse=str(warehouse)).dim
