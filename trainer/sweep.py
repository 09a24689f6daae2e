"""The architecture x n x k grid (``conf/sweep.yaml``): one complete SAE per cell, in the corpus warehouse.

Judging the cells on held-out numbers is ``evals.sweep`` (``just sweep <corpus>`` runs both).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, warehouse_of
from data.settings import CONF_DIR
from trainer.api import cli_args

SWEEP_CONFIG = CONF_DIR / "sweep.yaml"


@dataclass(frozen=True)
class SweepGrid:
    """Every architecture with every dictionary size and every k."""

    k: list[int] = field(default_factory=lambda: [32, 64])
    """Active latents per document (the mean per document for BatchTopK), one grid value each."""
    n_latents: list[int] | None = None
    """Dictionary sizes; ``expansion`` replaces them when given."""
    expansion: list[float] | None = None
    """n / d, one grid value each (n = int(expansion x d)); when given, it replaces ``n_latents``."""
    architectures: dict[str, dict[str, Any]] = field(default_factory=lambda: {"topk": {}})
    """Name -> model options (flat names as in ``trainer.api.train_sae``), e.g. ``batchtopk: {batch_topk: true}``."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Training settings of every cell, flat names as in ``trainer.api.train_sae`` (e.g. max_steps: 300)."""

    def __post_init__(self) -> None:
        sizes = self.expansion if self.expansion is not None else self.n_latents
        for name, values in (("k", self.k), ("n_latents or expansion", sizes)):
            if not values or any(value <= 0 for value in values):
                raise ValueError(f"sweep grid: {name} must be a non-empty list of positive numbers, got {values!r}")
        if not self.architectures:
            raise ValueError("sweep grid: architectures must name at least one, e.g. {topk: {}}")
        fixed = sorted({"k", "n_latents", "corpus", "warehouse", "name"} & set(self.overrides))
        if fixed:
            raise ValueError(f"sweep grid: overrides may not set {fixed}; the grid and the command line do")

    def cells(self, d: int) -> list[tuple[str, dict[str, Any], int, int]]:
        """(architecture, options, n_latents, k) of every cell, refused as a whole when one cannot train."""
        sizes = [int(e * d) for e in self.expansion] if self.expansion is not None else list(self.n_latents or [])
        cells = [
            (name, options, n, k)
            for (name, options), n, k in itertools.product(self.architectures.items(), sizes, self.k)
        ]
        bad = sorted({(n, k) for _, _, n, k in cells if k >= n})
        if bad:
            raise ValueError(f"sweep grid: k must be below n (d = {d}); these (n, k) cells are not: {bad}")
        return cells


def grid_defaults(argv: list[str]) -> Path | None:
    """conf/sweep.yaml, unless ``--config`` names another grid: a grid replaces it whole (its
    ``architectures`` mapping would otherwise be merged key by key with the shipped one)."""
    return None if any(arg == "--config" or arg.startswith("--config=") for arg in argv) else SWEEP_CONFIG


def _eta(elapsed_s: float, done: int, total: int) -> str:
    """``"; 2 done in 84 s, about 4 min left"`` (cells take about the same time), or nothing before the first."""
    if done == 0:
        return ""
    left = elapsed_s / done * (total - done)
    left_text = f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s"
    return f"; {done} done in {elapsed_s:.0f} s, about {left_text} left"


def run_sweep(argv: list[str]) -> list[int]:
    """``python -m trainer sweep <corpus> [--warehouse F] [--config grid.yaml]``: train every cell."""
    parser = command_parser("python -m trainer sweep", __doc__, config=SweepGrid, config_file=grid_defaults(argv))
    args = parser.parse_args(argv)
    grid = config_from(parser, args, SweepGrid)
    warehouse = warehouse_of(args)
    from trainer.cli import AtlasCLI, train

    results = []
    cells = list(grid.cells(_dim(warehouse, args.corpus)))
    console, started = Console(stderr=True), time.perf_counter()
    for done, (architecture, options, n_latents, k) in enumerate(cells):
        # Each cell draws its own training bar (one live display at a time), so the sweep's progress is a line.
        console.print(
            f"sweep {args.corpus}: SAE {done + 1} of {len(cells)} ({architecture}, n {n_latents}, k {k})"
            + _eta(time.perf_counter() - started, done, len(cells))
        )
        name = f"{args.corpus}-{architecture}-n{n_latents}-k{k}"
        cell = cli_args(
            warehouse, args.corpus, **{**grid.overrides, **options, "n_latents": n_latents, "k": k, "name": name}
        )
        results.append((architecture, n_latents, k, train(AtlasCLI(args=cell))))
    table = Table(title=f"sweep {args.corpus}")
    for column in ("architecture", "n", "k", "sae_id"):
        table.add_column(column)
    for row in results:
        table.add_row(*map(str, row))
    console.print(table)
    return [cast(int, sae_id) for *_, sae_id in results]  # rank 0 (the sweep) always gets an id


def _dim(warehouse: Path, corpus: str) -> int:
    from trainer.datamodule import EmbeddingDataModule

    return EmbeddingDataModule(corpus=corpus, warehouse=str(warehouse)).dim
