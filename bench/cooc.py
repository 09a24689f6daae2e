"""`just bench cooc`: latent co-occurrence at the paper's scale (424k docs x k 64, n 9216).

Synthetic top-k activations with a power-law latent density (a few latents fire in a large share
of documents, most are rare), as in a trained SAE. Times, in one process:
  * baseline: scipy's default ``A.T @ A`` on a CSR matrix (building A included);
  * ours from numpy arrays: ``cooccurrence_from_pairs``;
  * ours end to end from a DuckDB file: read the activations (Arrow) + count;
and checks that both give the same matrix.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from data.machine import describe_machine
from data.warehouse import insert_arrow, open_reader, open_writer, transaction
from evals.cooccurrence import cooccurrence_counts, cooccurrence_from_pairs, load_topk


def synthetic_topk(n_docs: int, k: int, n_latents: int, seed: int = 0) -> np.ndarray:
    """(n_docs, k) distinct latent ids per document, drawn from a power-law density."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(n_latents) + 20.0) ** 0.9
    cdf = np.cumsum(rng.permutation(weights))
    cdf /= cdf[-1]
    rows = np.searchsorted(cdf, rng.random((n_docs, k))).astype(np.int32)
    rows = np.minimum(rows, n_latents - 1)
    while True:  # replace repeated latents within a document until all k are distinct
        rows.sort(axis=1)
        repeated = np.zeros(rows.shape, dtype=bool)
        repeated[:, 1:] = rows[:, 1:] == rows[:, :-1]
        count = int(repeated.sum())
        if count == 0:
            return rows
        rows[repeated] = rng.integers(0, n_latents, count, dtype=np.int32)


def write_warehouse(path: Path, rows: np.ndarray, n_latents: int) -> int:
    """A warehouse with one complete SAE whose activations are ``rows`` (ordered by latent)."""
    n_docs, k = rows.shape
    with open_writer(path) as con, transaction(con):
        con.execute(
            "INSERT INTO saes (sae_id, name, corpus, embed_model, d, n_latents, k, k_aux, config, status, created_at)"
            " VALUES (1, 'bench', 'synthetic', 'none', 1536, ?, ?, ?, '{}', 'complete', now())",
            [n_latents, k, 2 * k],
        )
        activations = pa.table(
            {
                "sae_id": pa.array(np.ones(rows.size, np.int32)),
                "doc_id": pa.array(np.repeat(np.arange(n_docs, dtype=np.int32), k)),
                "latent": pa.array(rows.ravel()),
                "value": pa.array(np.ones(rows.size, np.float32)),
            }
        )
        insert_arrow(con, "activations", activations, order_by="latent")
    return 1


def timed(function, *args, **kwargs):
    """(result, (wall seconds, CPU seconds of this process across all its threads))."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, (time.perf_counter() - start, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=424_000, help="documents (paper: 424k astro-ph abstracts)")
    parser.add_argument("--k", type=int, default=64, help="active latents per document (paper SAE64)")
    parser.add_argument("--latents", type=int, default=9216, help="SAE width n (paper SAE64: 9216)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run scipy's A.T @ A")
    args = parser.parse_args()
    console = Console()
    rows, generate_s = timed(synthetic_topk, args.docs, args.k, args.latents)
    doc_ids = np.repeat(np.arange(args.docs, dtype=np.int32), args.k)
    latents = rows.ravel()
    console.print(f"generated {rows.size:,} activations in {generate_s[0]:.1f} s")

    ours, ours_s = timed(cooccurrence_from_pairs, doc_ids, latents, args.latents)
    results = [("ours: one bincount per latent row, from numpy arrays", ours_s)]
    same = "not checked"
    if not args.skip_baseline:

        def scipy_default():
            a = sp.csr_array((np.ones(latents.size, np.int32), (doc_ids, latents)), shape=(args.docs, args.latents))
            return a.T @ a

        baseline, baseline_s = timed(scipy_default)
        same = "yes" if (baseline != ours).nnz == 0 else "NO"
        del baseline
        results.insert(0, ("baseline: scipy.sparse A.T @ A, from numpy arrays", baseline_s))

    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        path = Path(folder) / "bench.duckdb"
        sae_id, write_s = timed(write_warehouse, path, rows, args.latents)
        console.print(f"wrote the DuckDB file in {write_s[0]:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
        with open_reader(path) as con:

            def read_numpy():
                got = con.sql("SELECT doc_id, latent FROM activations WHERE sae_id = ?", params=[sae_id]).fetchnumpy()
                return got["doc_id"], got["latent"]

            _, fetchnumpy_s = timed(read_numpy)
            _, arrow_s = timed(load_topk, con, sae_id)
            from_db, end_to_end_s = timed(cooccurrence_counts, con, sae_id)
        same_db = "yes" if (from_db != ours).nnz == 0 else "NO"
    results += [
        ("read only: fetchnumpy()", fetchnumpy_s),
        ("read only: to_arrow_table() (used)", arrow_s),
        ("ours end to end: DuckDB file -> counts", end_to_end_s),
    ]

    table = Table(title="Latent co-occurrence C = AᵀA")
    table.add_column("method")
    table.add_column("wall s", justify="right")
    table.add_column("CPU s", justify="right")
    table.add_column("wall vs baseline", justify="right")
    table.add_column("CPU vs baseline", justify="right")
    reference = None if args.skip_baseline else results[0][1]
    for name, (wall, cpu) in results:
        table.add_row(
            name,
            f"{wall:.2f}",
            f"{cpu:.2f}",
            f"{reference[0] / wall:.1f}x" if reference else "-",
            f"{reference[1] / cpu:.1f}x" if reference else "-",
        )
    console.print(table)
    console.print(
        f"workload: {args.docs:,} docs x k={args.k} ({rows.size:,} activations), n={args.latents:,}; "
        f"C has {ours.nnz:,} non-zeros; same matrix as baseline: {same}; from DuckDB: {same_db}"
    )
    console.print(
        f"hardware: {describe_machine()} (other processes share the cores: "
        f"wall > CPU / cores means contention), numpy {np.__version__}, scipy {scipy.__version__}"
    )


if __name__ == "__main__":
    main()
