"""`just sweep <corpus>`: train the architecture x n x k grid, judge every SAE on held-out numbers,
print the Pareto table and mark the recommended SAE.

Per complete SAE of the corpus: test FVU (documents no SAE trained on, ``docs.split = 'test'``), train
FVU and their gap, test L0, coherence median (``evals.coherence``; per Matryoshka level too) and the
dead fraction (latents that fire on no document). The Pareto front is over test FVU (lower), L0 (lower)
and coherence (higher). The recommended SAE has the highest ``coherence - test FVU`` among the healthy
ones (gap <= ``max_gap``, dead <= ``max_dead``; among all when none is healthy).

Stored per SAE in ``eval_summaries`` (eval = 'sweep'; JSON with every number above plus ``pareto`` and
``recommended``), so the dashboard and the evals can read the recommendation:
``SELECT sae_id FROM eval_summaries WHERE eval = 'sweep' AND summary->>'recommended' = 'true'``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
from rich.console import Console
from rich.table import Table

from data.commands import command_parser, entry_point, warehouse_of
from data.warehouse import open_reader, open_writer, transaction
from evals.coherence import feature_coherence
from evals.saes import complete_sae, complete_sae_ids
from trainer.sweep import SweepGrid, grid_defaults

EVAL = "sweep"


@dataclass
class SaeQuality:
    """One SAE's held-out numbers and its place in the sweep."""

    sae_id: int
    name: str
    architecture: str
    n_latents: int
    k: int
    test_fvu: float | None
    train_fvu: float | None
    gap: float | None
    l0: float | None
    coherence: float
    coherence_by_level: list[float]
    dead_fraction: float
    pareto: bool = False
    recommended: bool = False


@dataclass
class Health:
    """What a recommended SAE must satisfy (the issue's targets)."""

    max_gap: float = 0.08
    max_dead: float = 0.01


def architecture_of(config: dict) -> str:
    """'topk', 'batchtopk', 'matryoshka' or 'matryoshka-batchtopk' from a run's stored config."""
    model = config.get("model", {})
    parts = (["matryoshka"] if model.get("matryoshka") else []) + (["batchtopk"] if model.get("batch_topk") else [])
    return "-".join(parts) or "topk"


def sae_quality(con: duckdb.DuckDBPyConnection, sae_id: int) -> SaeQuality:
    info = complete_sae(con, sae_id)
    config, metrics = (
        json.loads(text)
        for text in con.execute("SELECT config, metrics FROM saes WHERE sae_id = ?", [sae_id]).fetchall()[0]
    )
    latents = con.execute("SELECT density, level FROM latents WHERE sae_id = ? ORDER BY latent", [sae_id]).fetchnumpy()
    coherence = feature_coherence(con, sae_id, info.embed_model, info.n_latents)
    levels = latents["level"]
    by_level = [_median(coherence[levels == level]) for level in range(int(levels.max(initial=0)) + 1)]
    test, train = metrics.get("test_fvu"), metrics.get("train_fvu")
    return SaeQuality(
        sae_id,
        info.name,
        architecture_of(config),
        info.n_latents,
        info.k,
        test,
        train,
        None if test is None or train is None else test - train,
        metrics.get("test_l0"),
        _median(coherence),
        by_level if len(by_level) > 1 else [],
        float(np.mean(latents["density"] == 0)),
    )


def _median(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def mark_pareto_and_recommended(rows: list[SaeQuality], health: Health) -> None:
    """Pareto: no other SAE is at least as good on test FVU, L0 and coherence and better on one."""
    key = {
        id(row): (row.test_fvu, row.l0 if row.l0 is not None else row.k, -row.coherence)
        for row in rows
        if row.test_fvu is not None
    }
    scored = [row for row in rows if id(row) in key]
    for row in scored:
        row.pareto = not any(
            all(a <= b for a, b in zip(key[id(other)], key[id(row)], strict=True)) and key[id(other)] != key[id(row)]
            for other in scored
        )
    healthy = [
        row
        for row in scored
        if row.gap is not None and row.gap <= health.max_gap and row.dead_fraction <= health.max_dead
    ]
    candidates = healthy or scored
    if candidates:
        max(candidates, key=lambda row: row.coherence - key[id(row)][0]).recommended = True


def store(con: duckdb.DuckDBPyConnection, rows: list[SaeQuality]) -> None:
    with transaction(con):
        con.execute(
            "DELETE FROM eval_summaries WHERE eval = ? AND list_contains(?, sae_id)", [EVAL, [r.sae_id for r in rows]]
        )
        for row in rows:
            con.execute(
                "INSERT INTO eval_summaries (sae_id, eval, summary, created_at) VALUES (?, ?, ?, now())",
                [row.sae_id, EVAL, json.dumps(asdict(row))],
            )


def recommended_sae(con: duckdb.DuckDBPyConnection, corpus: str) -> int | None:
    """The sae_id `just sweep` recommended for ``corpus`` (None before any sweep)."""
    rows = con.execute(
        "SELECT e.sae_id FROM eval_summaries e JOIN complete_saes s USING (sae_id) WHERE e.eval = ? AND s.corpus = ? "
        "AND e.summary->>'recommended' = 'true' ORDER BY e.created_at DESC LIMIT 1",
        [EVAL, corpus],
    ).fetchall()
    return rows[0][0] if rows else None


def table_of(corpus: str, rows: list[SaeQuality]) -> Table:
    table = Table(
        title=f"SAE sweep, {corpus}: held-out quality (* Pareto front: test FVU, L0, coherence; >> recommended)"
    )
    for column in (
        "",
        "sae",
        "architecture",
        "n",
        "k",
        "test FVU",
        "train FVU",
        "gap",
        "test L0",
        "coherence",
        "by level",
        "dead",
    ):
        table.add_column(column, justify="left" if column in ("", "architecture", "by level") else "right")

    def number(value: float | None, digits: int = 3) -> str:
        return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"

    for row in sorted(rows, key=lambda r: (r.test_fvu is None, r.test_fvu or 0)):
        mark = (">>" if row.recommended else "  ") + ("*" if row.pareto else " ")
        table.add_row(
            mark,
            str(row.sae_id),
            row.architecture,
            str(row.n_latents),
            str(row.k),
            number(row.test_fvu),
            number(row.train_fvu),
            number(row.gap),
            number(row.l0, 1),
            number(row.coherence),
            " / ".join(number(c, 2) for c in row.coherence_by_level),
            f"{row.dead_fraction:.1%}",
        )
    return table


def evaluate_corpus(warehouse: Path, corpus: str, health: Health | None = None) -> list[SaeQuality]:
    with open_reader(warehouse) as con:
        rows = [sae_quality(con, sae_id) for sae_id in complete_sae_ids(con, corpus)]
    mark_pareto_and_recommended(rows, health or Health())
    with open_writer(warehouse) as con:
        store(con, rows)
    return rows


@entry_point
def main(argv: list[str] | None = None) -> int:
    """``just sweep <corpus> [--config grid.yaml] [--warehouse F] [--no-train]``."""
    arguments = list(argv if argv is not None else sys.argv[1:])
    parser = command_parser("just sweep", __doc__, config=SweepGrid, config_file=grid_defaults(arguments))
    parser.add_argument("--no-train", action="store_true", help="only judge the corpus's complete SAEs (train nothing)")
    args = parser.parse_args(arguments)
    warehouse = warehouse_of(args)
    if not args.no_train:
        from trainer.quiet import quiet_lightning
        from trainer.sweep import run_sweep

        quiet_lightning()
        run_sweep([arg for arg in arguments if arg != "--no-train"])
    rows = evaluate_corpus(warehouse, args.corpus)
    Console(width=max(Console().width, 160)).print(table_of(args.corpus, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
