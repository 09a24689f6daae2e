"""`just bench interp`: the offline interpretation path over every feature of a stored SAE.

Runs on a temporary copy of the warehouse (a full run, never a resume; stored results untouched)
and prints the workload, the hardware, the wall time per phase against the 3-minute target, the
held-out scores next to the random-label baseline, and the speed of the batched example
selection against a naive per-feature version (SQL queries and one similarity pass per feature,
as the paper's code does) timed on a sample of features in the same process.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from data.machine import describe_machine
from data.settings import warehouse_path
from data.warehouse import open_reader
from evals.interp.examples import Corpus, load_corpus
from evals.interp.pipeline import run_interpretation
from evals.interp.summary import METRICS
from evals.saes import pick_sae

TARGET_S = 180.0
"""Issue 10's target: every feature of the default SAE labelled offline in under 3 minutes."""


def naive_selection_seconds(path: Path, sae_id: int, corpus: Corpus, latents: list[int], seed: int = 0) -> float:
    """Per-feature SQL + one full similarity pass per feature: the baseline to beat."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    with open_reader(path) as con:
        for latent in latents:
            top = con.execute(
                "SELECT doc_id, value FROM activations WHERE sae_id = ? AND latent = ? ORDER BY value DESC",
                [sae_id, latent],
            ).fetchnumpy()
            active = np.searchsorted(corpus.doc_ids, top["doc_id"])
            con.execute(
                "SELECT doc_id FROM docs"
                " WHERE doc_id NOT IN (SELECT doc_id FROM activations WHERE sae_id = ? AND latent = ?)"
                " ORDER BY random() LIMIT 8",
                [sae_id, latent],
            ).fetchall()
            centroid = corpus.embeddings[active[:10]].mean(axis=0)
            similarity = corpus.embeddings @ centroid
            similarity[active] = -np.inf
            np.argsort(-similarity)[:8]
            rng.permutation(active)[:20]
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just bench interp", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="astro")
    parser.add_argument("--warehouse", type=Path, default=None, help="default: artifacts/<corpus>.duckdb")
    parser.add_argument(
        "--sae-id", type=int, default=None, help="default: the corpus's default SAE (README, Default SAE)"
    )
    parser.add_argument("--naive-sample", type=int, default=100, help="features timed with the naive selection")
    args = parser.parse_args(argv)
    source = args.warehouse or warehouse_path(args.corpus)
    console = Console(width=140)
    with open_reader(source) as con:
        sae = pick_sae(con, args.corpus, args.sae_id)
        nnz = con.execute("SELECT count(*) FROM activations WHERE sae_id = ?", [sae.sae_id]).fetchall()[0][0]
        corpus = load_corpus(con, sae.embed_model, 100)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / source.name
        shutil.copy(source, copy)
        report = run_interpretation(copy, args.corpus, sae_id=sae.sae_id, use_llm=False)
        sample = list(range(min(args.naive_sample, sae.n_latents)))
        naive_s = naive_selection_seconds(copy, sae.sae_id, corpus, sample)

    work = Table(title="workload and hardware")
    work.add_column("what")
    work.add_column("value")
    work.add_row("SAE", f"id {sae.sae_id}: n = {sae.n_latents}, k = {sae.k}, {sae.embed_model}")
    work.add_row("corpus", f"{corpus.size} abstracts, {nnz} stored activations")
    work.add_row("hardware", describe_machine())
    console.print(work)

    phases = Table(
        title=f"offline path over all features: {report.wall_s:.1f} s "
        f"({report.wall_s / TARGET_S:.2f} x the 3-minute target)"
    )
    phases.add_column("phase")
    phases.add_column("seconds", justify="right")
    for name, seconds in report.phases.items():
        phases.add_row(name, f"{seconds:.1f}")
    phases.add_row("total", f"{report.wall_s:.1f}")
    console.print(phases)

    batched_per_feature = report.phases["select examples"] / max(sae.n_latents, 1)
    naive_per_feature = naive_s / max(len(sample), 1)
    speed = Table(title="example selection: batched vs naive per-feature (same process)")
    for column in ("method", "ms / feature", f"projected for {sae.n_latents} features (s)", "ratio"):
        speed.add_column(column, justify="right")
    speed.add_row(
        "naive (per-feature SQL + similarity pass)",
        f"{1000 * naive_per_feature:.2f}",
        f"{naive_per_feature * sae.n_latents:.1f}",
        "1.00",
    )
    speed.add_row(
        "batched (this project)",
        f"{1000 * batched_per_feature:.2f}",
        f"{report.phases['select examples']:.1f}",
        f"{naive_per_feature / max(batched_per_feature, 1e-9):.1f}x faster",
    )
    console.print(speed)

    summary = report.summary
    scores = Table(title=f"held-out scores, {summary['scored']} features (q25 / median / q75); offline PROXY labels")
    for column in ("metric", "phrase label", "other-label baseline"):
        scores.add_column(column)

    def fmt(q: dict) -> str:
        return " / ".join("-" if q[k] is None else f"{q[k]:.3f}" for k in ("q25", "median", "q75"))

    for name in METRICS:
        scores.add_row(name, fmt(summary[name]), fmt(summary[f"random_{name}"]))
    scores.add_row(
        "clean fraction (r >= 0.8, F1 >= 0.8, density < 0.2)",
        f"{summary['clean_fraction']:.3f}",
        f"{summary['random_clean_fraction']:.3f}",
    )
    console.print(scores)
    console.print(
        f"features: {summary['features']}; named {summary['scored']}, (no clear concept) "
        f"{summary['no_clear_concept']}, near-duplicates {summary['near_duplicates']}, "
        f"beating their baseline {summary['beats_baseline_fraction']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
