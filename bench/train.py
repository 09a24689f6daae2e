"""`just bench train`: one SAE training step, this trainer vs the paper's recipe vs EleutherAI sparsify.

A step is `trainer.step.train_step`, the very function the LightningModule runs: forward + backward +
decoder-gradient projection + gradient clipping (1.0) + Adam + decoder renormalisation + dead-latent
counting, on a fixed batch of random unit vectors with a pinned dead-latent mask (so AuxK runs every step).
All variants live in one process and are timed round-robin (one step of each per round), so load from
other processes on a shared machine hits them alike; the table reports medians. The floor is one dense
encoder GEMM (B x d x n) of the same shape, timed in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.table import Table

from bench.paper_recipe import PaperAutoencoder
from data.machine import describe_machine
from trainer.sae import TopKSAE
from trainer.step import DeadLatents, train_step

console = Console(width=max(Console().width, 170))

SHAPES = {
    "sae64": (1536, 9216, 64),  # the paper's SAE64 on OpenAI 1536-d embeddings
    "minilm": (384, 3072, 32),  # this project's default: MiniLM 384-d, n = 8d
}


@dataclass
class Workload:
    """One benchmark shape."""

    name: str
    d: int
    n_latents: int
    k: int
    batch: int
    dead_fraction: float
    """Share of latents marked dead (fixed mask), so every variant pays for its AuxK pass."""


@dataclass
class Variant:
    name: str
    step: Callable[[], object] | None
    note: str
    times: list[float]


def _adam(parameters, fused: bool) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=1e-4, fused=True) if fused else torch.optim.Adam(parameters, lr=1e-4)


class PinnedDeadLatents(DeadLatents):
    """Counts firing exactly as training does (same work per step) but always reports the same mask,
    so every timed step pays for its AuxK pass."""

    def __init__(self, pinned: torch.Tensor) -> None:
        super().__init__(torch.zeros(pinned.shape[0], dtype=torch.long, device=pinned.device), dead_after=2**62)
        self.pinned = pinned

    def mask(self) -> torch.Tensor:
        return self.pinned


ARCHITECTURES: list[tuple[str, Callable[[int], dict], str]] = [
    ("BatchTopK", lambda n: {"batch_topk": True}, "top k*B of the batch; EMA threshold update"),
    ("Matryoshka", lambda n: {"prefixes": (n // 16, n // 4)}, "prefixes n/16, n/4, n: three reconstruction losses"),
    ("Matryoshka + BatchTopK", lambda n: {"prefixes": (n // 16, n // 4), "batch_topk": True}, "both options"),
]
"""The architecture options timed next to plain top-k, each on the same fast path."""


def _trainer_variant(name: str, sae: TopKSAE, x: torch.Tensor, dead_mask: torch.Tensor, note: str) -> Variant:
    optimiser = _adam(sae.parameters(), fused=True)
    dead = PinnedDeadLatents(dead_mask)
    return Variant(name, lambda: train_step(sae, x, optimiser, dead), note, [])


def _sparsify_variant(
    w: Workload, x: torch.Tensor, dead_mask: torch.Tensor, device: torch.device
) -> tuple[Callable[[], object] | None, str]:
    try:
        from sparsify import SparseCoder, SparseCoderConfig
    except ImportError as error:  # optional `bench` extra
        return None, f"not installed ({error.name}); pip install -e '.[bench]'"
    coder = SparseCoder(w.d, SparseCoderConfig(num_latents=w.n_latents, k=w.k), device=device)
    optimiser = _adam(coder.parameters(), fused=True)

    def step():
        out = coder(x, dead_mask=dead_mask)
        loss = out.fvu + out.auxk_loss / 32
        optimiser.zero_grad()
        loss.backward()
        coder.remove_gradient_parallel_to_decoder_directions()
        torch.nn.utils.clip_grad_norm_(coder.parameters(), 1.0, foreach=True)
        optimiser.step()
        coder.set_decoder_norm_to_unit_norm()

    import sparsify

    return step, f"eai-sparsify {sparsify.__version__}; fused Adam; its AuxK picks min(d/2 = {w.d // 2}, #dead) latents"


def build_variants(
    w: Workload, device: torch.device, include_dense_reference: bool
) -> tuple[list[Variant], torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(w.batch, w.d, generator=gen), dim=1).to(device)
    dead_mask = (torch.rand(w.n_latents, generator=gen) < w.dead_fraction).to(device)
    k_aux = 2 * w.k
    variants = []

    fast = TopKSAE(w.d, w.n_latents, w.k, fast=True).to(device)
    fast.init_b_pre(x)
    variants.append(_trainer_variant("this trainer (fast path)", fast, x, dead_mask, "sparse kernels; fused Adam"))
    for name, options, note in ARCHITECTURES:
        sae = TopKSAE(w.d, w.n_latents, w.k, fast=True, **options(w.n_latents)).to(device)
        sae.load_state_dict(fast.state_dict(), strict=False)
        variants.append(_trainer_variant(f"this trainer, {name} (fast path)", sae, x, dead_mask, note))
    if include_dense_reference:
        dense = TopKSAE(w.d, w.n_latents, w.k, fast=False).to(device)
        variants.append(
            _trainer_variant("this trainer (dense reference path)", dense, x, dead_mask, "fast=False; fused Adam")
        )
    paper = PaperAutoencoder(w.d, w.n_latents, w.k, k_aux).to(device)
    paper_opt = _adam(paper.parameters(), fused=False)
    variants.append(
        Variant(
            "paper recipe (as published)",
            lambda: paper.train_step(x, dead_mask.float(), paper_opt),
            "dense; top-4k every step; torch.optim.Adam defaults",
            [],
        )
    )
    paper_fused = PaperAutoencoder(w.d, w.n_latents, w.k, k_aux).to(device)
    paper_fused_opt = _adam(paper_fused.parameters(), fused=True)
    variants.append(
        Variant(
            "paper recipe + fused Adam",
            lambda: paper_fused.train_step(x, dead_mask.float(), paper_fused_opt),
            "same math, our optimiser: isolates the kernels",
            [],
        )
    )
    sparsify_step, note = _sparsify_variant(w, x, dead_mask, device)
    variants.append(Variant("EleutherAI sparsify SparseCoder", sparsify_step, note, []))
    return variants, x, dead_mask


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def run_workload(w: Workload, device: torch.device, rounds: int, warmup: int, include_dense_reference: bool) -> None:
    torch.manual_seed(0)
    variants, x, _ = build_variants(w, device, include_dense_reference)
    weight = torch.randn(w.n_latents, w.d, device=device)
    bias = torch.zeros(w.n_latents, device=device)
    gemm = Variant(
        "one dense encoder GEMM (floor)",
        lambda: torch.addmm(bias, x, weight.t()),
        f"{w.batch} x {w.d} x {w.n_latents}",
        [],
    )
    active = [(v, v.step) for v in [gemm, *variants] if v.step is not None]
    for _variant, step in active:  # warm-up: allocator, first-call costs, sparsify's torch.compile
        for _ in range(warmup):
            step()
    for _ in range(rounds):
        for variant, step in active:
            variant.times.append(_timed(step, device))
    report(w, device, gemm, variants, rounds)


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    policy = os.environ.get("OMP_WAIT_POLICY", "default")
    threads = torch.get_num_threads()
    return f"{describe_machine()}, {threads} torch threads, OMP_WAIT_POLICY={policy}, torch {torch.__version__}"


def report(w: Workload, device: torch.device, gemm: Variant, variants: list[Variant], rounds: int) -> None:
    floor = statistics.median(gemm.times)
    published = next(v for v in variants if v.name.startswith("paper recipe (as"))
    published_ms = statistics.median(published.times) * 1e3
    table = Table(
        title=f"SAE train step [{w.name}] d={w.d} n={w.n_latents} k={w.k} k_aux={2 * w.k} batch={w.batch}, "
        f"{w.dead_fraction:.0%} latents dead, fp32 on {device.type}",
        caption=f"{_hardware(device)}; median of {rounds} interleaved rounds",
    )
    for column, justify in [
        ("variant", "left"),
        ("step ms (median)", "right"),
        ("min ms", "right"),
        ("x GEMM floor", "right"),
        ("speed-up vs paper", "right"),
        ("samples/s", "right"),
        ("notes", "left"),
    ]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]  # the literals above are rich JustifyMethods
    table.add_row(gemm.name, f"{floor * 1e3:.1f}", f"{min(gemm.times) * 1e3:.1f}", "1.00", "", "", gemm.note)
    for variant in variants:
        if variant.step is None:
            table.add_row(variant.name, "-", "-", "-", "-", "-", variant.note)
            continue
        median_ms = statistics.median(variant.times) * 1e3
        table.add_row(
            variant.name,
            f"{median_ms:.1f}",
            f"{min(variant.times) * 1e3:.1f}",
            f"{median_ms / (floor * 1e3):.2f}",
            f"{published_ms / median_ms:.2f}x",
            f"{w.batch / median_ms * 1e3:,.0f}",
            variant.note,
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--shape",
        choices=[*SHAPES, "all"],
        default="all",
        help="sae64 (d=1536, n=9216, k=64), minilm (d=384, n=3072, k=32)",
    )
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument(
        "--dead-fraction", type=float, default=0.05, help="share of latents in the fixed dead mask (AuxK runs)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per variant (interleaved)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-dense-reference", action="store_true", help="skip this trainer's dense reference path")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for name in SHAPES if args.shape == "all" else [args.shape]:
        d, n, k = SHAPES[name]
        run_workload(
            Workload(name, d, n, k, args.batch, args.dead_fraction),
            device,
            args.rounds,
            args.warmup,
            not args.no_dense_reference,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
