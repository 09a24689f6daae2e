"""`just bench write`: write 424k documents x k = 64 synthetic activations into DuckDB, per-latent ordered.

The paper's scale (424k abstracts, SAE64 with n = 9216). Each variant starts from the same
unsorted codes (what encoding the corpus produces: per document, k latents and values), builds
the rows ordered by (latent, value DESC), inserts them through Arrow into a fresh warehouse file
and commits. Timed: sort + insert + commit. Variants, in one process:
  - duckdb-order-by: insert unsorted Arrow with ``INSERT ... ORDER BY latent, value DESC`` (baseline)
  - numpy-lexsort:   ``np.lexsort((-value, latent))`` then a plain insert
  - packed-key:      this trainer (``trainer.outputs.sort_for_latent_reads``): one uint64 key, sorted in place
After each write it times one per-latent read (top 20 documents of a latent) to check the layout.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from data.machine import describe_machine
from data.warehouse import insert_arrow, open_reader, open_writer, transaction
from trainer.outputs import sort_for_latent_reads

console = Console(width=max(Console().width, 130))


def synthetic_codes(n_docs: int, k: int, n_latents: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(latents, values, rows) flattened per document, as encoding the corpus yields them."""
    rng = np.random.default_rng(seed)
    # k distinct latents per document: a random start and a random stride below n / k
    start = rng.integers(0, n_latents, size=(n_docs, 1))
    stride = rng.integers(1, max(n_latents // k, 2), size=(n_docs, 1))
    latents = ((start + stride * np.arange(k)) % n_latents).astype(np.int32)
    values = rng.gamma(2.0, 0.05, size=(n_docs, k)).astype(np.float32) + np.float32(1e-4)
    rows = np.repeat(np.arange(n_docs, dtype=np.int64), k)
    return latents.reshape(-1), values.reshape(-1), rows


def rows_table(sae_id: int, doc_ids: np.ndarray, latents, values, rows) -> pa.Table:
    return pa.table(
        {
            "sae_id": pa.array(np.full(len(rows), sae_id, dtype=np.int32)),
            "doc_id": pa.array(doc_ids[rows]),
            "latent": pa.array(latents),
            "value": pa.array(values),
        }
    )


def write(path: Path, table: pa.Table, order_by: str = "") -> None:
    with open_writer(path) as con, transaction(con):
        insert_arrow(con, "activations", table, order_by)


def variants(doc_ids, latents, values, rows) -> dict[str, Callable[[Path], None]]:
    def duckdb_order_by(path: Path) -> None:
        write(path, rows_table(1, doc_ids, latents, values, rows), order_by="latent, value DESC")

    def numpy_lexsort(path: Path) -> None:
        order = np.lexsort((-values, latents))
        write(path, rows_table(1, doc_ids, latents[order], values[order], rows[order]))

    def packed_key(path: Path) -> None:
        write(path, rows_table(1, doc_ids, *sort_for_latent_reads(latents, values, rows)))

    return {"duckdb-order-by": duckdb_order_by, "numpy-lexsort": numpy_lexsort, "packed-key (this trainer)": packed_key}


def check_and_time_read(path: Path, latent: int) -> tuple[float, bool]:
    """Top-20 documents of one latent; also checks the stored order is (latent, value DESC)."""
    with open_reader(path) as con:
        started = time.perf_counter()
        con.execute(
            "SELECT doc_id, value FROM activations WHERE sae_id = ? AND latent = ? ORDER BY value DESC LIMIT 20",
            [1, latent],
        ).fetchall()
        read_ms = (time.perf_counter() - started) * 1000
        stored = con.execute("SELECT latent, value FROM activations").fetchnumpy()
    step = np.diff(stored["latent"])
    ordered = bool((step >= 0).all() and (np.diff(stored["value"])[step == 0] <= 0).all())
    return read_ms, ordered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just bench write", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=424_000)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--latents", type=int, default=9216)
    parser.add_argument("--skip", action="append", default=[], help="variant name prefix to skip (e.g. numpy)")
    args = parser.parse_args(argv)
    latents, values, rows = synthetic_codes(args.docs, args.k, args.latents)
    doc_ids = np.arange(args.docs, dtype=np.int32) * 3 + 7  # warehouse ids are not row numbers
    results: list[tuple[str, float, float, bool, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        for name, run in variants(doc_ids, latents, values, rows).items():
            if any(name.startswith(prefix) for prefix in args.skip):
                continue
            path = Path(folder) / f"{len(results)}.duckdb"
            with open_writer(path):  # an empty warehouse with the schema, created outside the timing
                pass
            gc.collect()
            started = time.perf_counter()
            run(path)
            seconds = time.perf_counter() - started
            read_ms, ordered = check_and_time_read(path, latent=args.latents // 2)
            results.append((name, seconds, read_ms, ordered, path.stat().st_size / 2**20))
    baseline = results[0][1]
    table = Table(
        title=f"write {args.docs:,} docs x k={args.k} activations ({len(rows):,} rows, n={args.latents}) into DuckDB",
        caption=f"{describe_machine()}; one run per variant, same process; target < 5 s",
    )
    for column in ("variant", "sort+insert+commit s", "vs duckdb ORDER BY", "top-20 read ms", "ordered", "file MiB"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, seconds, read_ms, ordered, size in results:
        table.add_row(
            name,
            f"{seconds:.2f}",
            f"{baseline / seconds:.2f}x",
            f"{read_ms:.1f}",
            "yes" if ordered else "NO",
            f"{size:.0f}",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
