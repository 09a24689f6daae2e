"""`just bench embed`: abstracts per second of each local embedding backend on this machine.

Workload: ``--n`` real abstracts (title + abstract, as ingested) from the shared listing, embedded by
all-MiniLM-L6-v2 in batches of 64 (sorted by length), max 256 tokens. Baseline, in the same process:
the product's backend (sentence-transformers, torch float32 on the CPU). Each other backend is
shown with its speed ratio and its worst cosine against the baseline's vectors; a backend is worth
using only if it is faster AND keeps cosine >= 0.99 on every abstract:

- torch int8: dynamic int8 quantisation of the Linear layers (no extra package);
- onnx / onnx int8, openvino: sentence-transformers' other backends, when their packages
  (``optimum[onnxruntime]``, ``optimum-intel[openvino]``) are installed; else shown as skipped;
- cuda float16: the product's GPU path, when torch sees a GPU.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from data.embed.local import LocalEmbedder, model_folder
from data.ingest import LOCAL_LISTING
from data.machine import describe_machine
from data.settings import REPO_ROOT
from data.text import embedding_text

MIN_COSINE = 0.99


def _texts(n: int) -> list[str]:
    data_dir = Path(os.environ.get("SAE_ATLAS_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
    with gzip.open(data_dir / LOCAL_LISTING, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for _, line in zip(range(n), lines, strict=False)]
    return sorted((embedding_text(r["title"], r["abstract"]) for r in records), key=len)


def _timed(embed: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[float, np.ndarray]:
    embed(texts[:8])  # warm-up: first-call allocations and kernel selection
    started = time.perf_counter()
    vectors = np.asarray(embed(texts), dtype=np.float32)
    return time.perf_counter() - started, vectors


def _torch_int8(embedder: LocalEmbedder) -> Callable[[list[str]], np.ndarray]:
    with warnings.catch_warnings():  # torch.ao's eager quantisation is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(embedder._encoder, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return embedder.embed


def _st_backend(
    backend: Literal["torch", "onnx", "openvino"], file_name: str | None = None
) -> Callable[[list[str]], np.ndarray]:
    from sentence_transformers import SentenceTransformer

    model_kwargs = {"file_name": file_name} if file_name else None
    model = SentenceTransformer(
        str(model_folder("all-MiniLM-L6-v2")),
        device="cpu",
        backend=backend,
        local_files_only=True,
        model_kwargs=model_kwargs,
    )
    return lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just bench embed", description=__doc__)
    parser.add_argument("--n", type=int, default=256, help="abstracts to embed per backend")
    args = parser.parse_args(argv)
    texts = _texts(args.n)
    baseline_s, reference = _timed(LocalEmbedder(device="cpu").embed, texts)
    rows: list[tuple[str, float | None, float | None, str]] = [
        ("torch float32 (cpu, product default)", baseline_s, 1.0, "")
    ]
    candidates: list[tuple[str, Callable[[], Callable[[list[str]], np.ndarray]]]] = [
        ("torch int8 dynamic (cpu)", lambda: _torch_int8(LocalEmbedder(device="cpu"))),
        ("onnx (cpu)", lambda: _st_backend("onnx")),
        ("openvino (cpu)", lambda: _st_backend("openvino")),
    ]
    if torch.cuda.is_available():
        candidates.append(("torch float16 (cuda, product on a GPU)", lambda: LocalEmbedder(device="cuda").embed))
    for name, build in candidates:
        try:
            embed = build()
        except Exception as error:  # an optional backend whose packages are missing
            rows.append((name, None, None, f"skipped: {str(error).splitlines()[0][:60]}"))
            continue
        seconds, vectors = _timed(embed, texts)
        cosine = float((vectors * reference).sum(axis=1).min())
        rows.append(
            (name, seconds, cosine, "faster, same quality" if seconds < baseline_s and cosine >= MIN_COSINE else "")
        )

    table = Table(
        title=f"embedding {len(texts)} abstracts with all-MiniLM-L6-v2 (batch 64, sorted by length, <= 256 tokens)"
    )
    for column in ("backend", "abstracts/s", "x baseline", "min cosine vs float32", "note"):
        table.add_column(column, justify="left" if column in ("backend", "note") else "right")
    for name, row_seconds, row_cosine, note in rows:
        if row_seconds is None:
            table.add_row(name, "-", "-", "-", note)
            continue
        table.add_row(
            name, f"{len(texts) / row_seconds:.1f}", f"{baseline_s / row_seconds:.2f}", f"{row_cosine:.4f}", note
        )
    console = Console(width=max(Console().width, 120))  # the notes column needs room
    console.print(table)
    console.print(f"hardware: {describe_machine()}; torch threads {torch.get_num_threads()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
