"""`just bench quality`: the fast path vs the paper's recipe on the real astro embeddings, equal steps.

Both start from the same weights (b_pre = median of the training vectors), see the same batches in the
same order, use the same optimiser (Adam, gradient clipping 1.0) and the same dead-latent rule (no fire in
the last `dead_after` training samples, default one epoch). Reported: validation normalised MSE on
held-out documents, and latents that fire on no training document at the end.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from bench.paper_recipe import PaperAutoencoder
from data.corpus import load_corpus_config
from data.embeddings import load_embeddings
from data.settings import warehouse_path
from data.warehouse import open_reader
from trainer.sae import TopKSAE
from trainer.step import DeadLatents, train_step

console = Console(width=max(Console().width, 150))
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class QualityConfig:
    """The comparison's workload."""

    n_latents: int = 3072
    k: int = 32
    batch: int = 1024
    steps: int = 100
    lr: float = 1e-3
    validation_fraction: float = 0.1
    dead_after: int | None = None
    """Samples without a fire after which a latent counts as dead (AuxK); None = one epoch."""
    seed: int = 0


def astro_vectors(warehouse: Path | None) -> torch.Tensor:
    """The astro MiniLM vectors from `warehouse` (default artifacts/astro.duckdb,
    built from the shared data if missing)."""
    corpus = load_corpus_config("astro")
    path = warehouse or warehouse_path("astro")
    if not path.exists():
        from data.cli import main as data_cli

        shared = Path(os.environ.get("SAE_ATLAS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
        console.print(f"no astro warehouse at {path}; building it from {shared} (as `just data astro` would)")
        if (
            data_cli(
                [
                    "ingest",
                    "astro",
                    "--warehouse",
                    str(path),
                    "--jsonl",
                    str(shared / "arxiv_abstracts.jsonl.gz"),
                    "--embeddings",
                    str(shared / "minilm_l6_v2.parquet"),
                ]
            )
            != 0
        ):
            raise SystemExit(
                f"could not build the astro warehouse from {shared}; set SAE_ATLAS_SHARED_DATA or pass --warehouse"
            )
    with open_reader(path) as con:
        _, matrix = load_embeddings(con, corpus.embed_model)
    if len(matrix) == 0:
        raise SystemExit(f"{path} holds no {corpus.embed_model} embeddings; run `just data astro` first")
    return torch.tensor(matrix, dtype=torch.float32)


def compare(vectors: torch.Tensor, cfg: QualityConfig) -> Table:
    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(vectors), generator=gen)
    n_val = int(len(vectors) * cfg.validation_fraction)
    validation, train = vectors[order[:n_val]], vectors[order[n_val:]]
    dead_after = cfg.dead_after or len(train)
    torch.manual_seed(cfg.seed)
    d = vectors.shape[1]
    fast = TopKSAE(d, cfg.n_latents, cfg.k, fast=True)
    fast.init_b_pre(train)
    paper = PaperAutoencoder(d, cfg.n_latents, cfg.k, k_aux=2 * cfg.k)
    paper.copy_from(fast)
    runs: dict[str, tuple[torch.nn.Module, torch.optim.Optimizer, Callable[..., None]]] = {
        "this trainer (fast path)": (fast, torch.optim.Adam(fast.parameters(), lr=cfg.lr, fused=True), _trainer_step),
        "paper recipe": (paper, torch.optim.Adam(paper.parameters(), lr=cfg.lr, fused=True), _paper_step),
    }
    rows = []
    for name, (model, optimiser, step) in runs.items():
        dead = DeadLatents.fresh(cfg.n_latents, dead_after)
        batches = torch.Generator().manual_seed(cfg.seed + 1)
        started = time.perf_counter()
        for step_index in range(cfg.steps):
            start = (step_index * cfg.batch) % len(train)
            if start + cfg.batch > len(train):
                start = 0
            if start == 0:
                train = train[torch.randperm(len(train), generator=batches)]
            step(model, train[start : start + cfg.batch], optimiser, dead)
        seconds = time.perf_counter() - started
        rows.append((name, *_evaluate(model, validation, train, cfg.n_latents), int(dead.mask().sum()), seconds))
    table = Table(
        title=f"SAE quality on astro MiniLM embeddings: n={cfg.n_latents} k={cfg.k} batch={cfg.batch} "
        f"{cfg.steps} steps, Adam lr={cfg.lr}, same init and batch order",
        caption=f"{len(train)} training / {len(validation)} validation documents; "
        f"dead = no fire in the last {dead_after} samples",
    )
    for column in [
        "variant",
        "validation NMSE",
        "train NMSE",
        "never fires (train docs)",
        "dead at end (rule)",
        "train s",
    ]:
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, val_nmse, train_nmse, never, dead_count, seconds in rows:
        table.add_row(name, f"{val_nmse:.4f}", f"{train_nmse:.4f}", str(never), str(dead_count), f"{seconds:.1f}")
    return table


def _trainer_step(sae: TopKSAE, x: torch.Tensor, optimiser: torch.optim.Optimizer, dead: DeadLatents) -> None:
    train_step(sae, x, optimiser, dead)


def _paper_step(paper: PaperAutoencoder, x: torch.Tensor, optimiser: torch.optim.Optimizer, dead: DeadLatents) -> None:
    """The paper's step with the product's dead-latent rule (fired = value > 0), so only the math differs."""
    _, values, indices = paper.train_step(x, dead.mask().float(), optimiser)
    dead.update(indices, values, x.shape[0])


@torch.no_grad()
def _evaluate(model, validation: torch.Tensor, train: torch.Tensor, n_latents: int) -> tuple[float, float, int]:
    """(validation NMSE, train NMSE, latents firing on no training document)."""

    def nmse_and_fired(x: torch.Tensor) -> tuple[float, torch.Tensor]:
        if isinstance(model, TopKSAE):
            out = model(x)
            return float(out.nmse), out.indices[out.values > 0]
        _, nmse, values, indices = model(x, torch.zeros(n_latents))
        return float(nmse), indices[values > 0]

    val_nmse, _ = nmse_and_fired(validation)
    train_nmse, fired = nmse_and_fired(train)
    never = int((torch.bincount(fired, minlength=n_latents) == 0).sum())
    return val_nmse, train_nmse, never


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = QualityConfig()
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        help="astro warehouse (default: artifacts/astro.duckdb, else built from the shared data)",
    )
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--n-latents", type=int, default=defaults.n_latents)
    parser.add_argument("--k", type=int, default=defaults.k)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = QualityConfig(n_latents=args.n_latents, k=args.k, steps=args.steps, lr=args.lr)
    console.print(compare(astro_vectors(args.warehouse), cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
