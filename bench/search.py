"""`just bench search`: one steered query over the paper's corpus size, against float32 search.

Workload: synthetic clustered unit vectors (default 424,000 x 1536, like the paper's astro +
cs.LG corpus with text-embedding-3-small), an untrained top-k SAE of the paper's SAE64 shape
(n = 9216, k = 64) and queries = a document plus noise, steered up one latent and down another.
Timed: ``SteerableSearch.steer`` + ``search`` (int8 or float16 scan, float32 re-rank, certified) against
a plain float32 exact search of the same steered vector in the same process (torch and numpy).
Agreement: the fraction of queries whose top 10 equals the float32 top 10 (same set).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from data.machine import describe_machine
from evals.saes import StoredSAE
from evals.steering.index import make_scorer
from evals.steering.search import SteerableSearch
from trainer.sae import TopKSAE


def clustered_unit_vectors(n_docs: int, dim: int, n_clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around random centres (cos ~ 0.5 within a cluster), built in chunks to bound RAM."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    matrix = np.empty((n_docs, dim), dtype=np.float32)
    for start in range(0, n_docs, 50_000):
        stop = min(start + 50_000, n_docs)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32) / np.sqrt(dim)
        block = centres[rng.integers(0, n_clusters, stop - start)] + noise
        matrix[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return matrix


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--docs", type=int, default=424_000, help="documents in the synthetic corpus")
    parser.add_argument("--dim", type=int, default=1536, help="embedding width")
    parser.add_argument("--latents", type=int, default=9216, help="SAE latents (paper SAE64: 9216)")
    parser.add_argument("--k", type=int, default=64, help="SAE top-k")
    parser.add_argument("--queries", type=int, default=200, help="timed queries")
    parser.add_argument("--candidates", type=int, default=1024, help="coarse candidates re-ranked in float32")
    parser.add_argument("--coarse", choices=("auto", "int8", "float16"), default="auto", help="coarse scorer")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    console = Console()
    torch.manual_seed(args.seed)

    started = time.perf_counter()
    matrix = clustered_unit_vectors(args.docs, args.dim, n_clusters=max(args.docs // 200, 1), seed=args.seed)
    sae = TopKSAE(args.dim, args.latents, args.k).eval()
    info = StoredSAE(0, "synthetic", "synthetic", "synthetic-model", args.dim, args.latents, args.k)
    search = SteerableSearch.from_parts(info, sae, np.arange(args.docs), matrix, candidates=args.candidates)
    if args.coarse != "auto":
        search.index.scorer = make_scorer(search.index.exact, args.coarse)
    console.print(f"built {args.docs:,} x {args.dim} corpus and index in {time.perf_counter() - started:.1f} s")

    rng = np.random.default_rng(args.seed + 1)
    exact = search.index.exact
    fast_times, search_times, torch_times, numpy_times, agree = [], [], [], [], 0
    for i in range(args.queries + 3):
        base = matrix[rng.integers(args.docs)] + rng.standard_normal(args.dim).astype(np.float32) * 0.03
        up, down = (int(x) for x in rng.choice(args.latents, 2, replace=False))

        t0 = time.perf_counter()
        steered = search.steer(base, up=[(up, 0.5)], down=[(down, -0.5)])
        t1 = time.perf_counter()
        result = search.search(steered, top=10)
        t2 = time.perf_counter()

        q = torch.from_numpy(steered / np.linalg.norm(steered))
        t3 = time.perf_counter()
        _, torch_rows = torch.topk(torch.mv(exact, q), 10)
        t4 = time.perf_counter()
        scores = matrix @ q.numpy()
        numpy_rows = np.argpartition(scores, -10)[-10:]
        t5 = time.perf_counter()
        if i < 3:  # warm-up
            continue
        fast_times.append(t2 - t0)
        search_times.append(t2 - t1)
        torch_times.append(t4 - t3)
        numpy_times.append(t5 - t4)
        agree += set(result.doc_ids.tolist()) == set(torch_rows.tolist()) == set(numpy_rows.tolist())

    baseline = np.median(torch_times)
    coarse = search.index.scorer.name if search.index.scorer is not None else "exact"
    table = Table(
        title=f"steered search: {args.docs:,} x {args.dim} docs, SAE n={args.latents} k={args.k}, "
        f"{args.queries} queries"
    )
    for column in ("method", "median ms", "p95 ms", "speed-up vs fp32 torch"):
        table.add_column(column, justify="right" if column != "method" else "left")
    rows = [
        (f"steer + search ({coarse} scan, fp32 re-rank of {search.index.candidates})", fast_times),
        ("  search only", search_times),
        ("float32 exact, torch mv (baseline)", torch_times),
        ("float32 exact, numpy", numpy_times),
    ]
    for name, times in rows:
        table.add_row(
            name,
            f"{percentile_ms(times, 50):.1f}",
            f"{percentile_ms(times, 95):.1f}",
            f"{baseline / np.median(times):.2f}x",
        )
    console.print(table)
    console.print(
        f"top-10 agreement with float32 exact search: {agree}/{args.queries} = {agree / args.queries:.1%}; "
        f"full float32 fallbacks: {search.index.fallbacks}"
    )
    console.print(f"hardware: {describe_machine()}, torch {torch.__version__} with {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
