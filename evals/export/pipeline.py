"""Export one stored SAE into a folder in another tool's format (written atomically, replacing the old one)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from data.progress import phases
from data.settings import artifacts_dir
from data.warehouse import open_reader
from evals.export.common import atomic_folder, feature_records, load_topk_sae
from evals.export.parquet_format import write_parquet_folder
from evals.export.sentence_transformers_format import write_sentence_transformers_folder
from evals.export.sparsify_format import write_sparsify_folder
from evals.saes import pick_sae

FORMATS = ("safetensors", "sentence-transformers", "parquet")


@dataclass(frozen=True)
class ExportReport:
    sae_id: int
    format: str
    folder: Path
    files: list[tuple[str, int]]
    """(relative path, bytes) of every file written."""
    labelled: int
    n_latents: int
    seconds: float


def default_folder(corpus: str, sae_id: int, fmt: str) -> Path:
    return artifacts_dir() / "exports" / f"{corpus}_sae{sae_id}_{fmt}"


def export_sae(
    path: str | Path, corpus: str, fmt: str, sae_id: int | None = None, out: Path | None = None
) -> ExportReport:
    """Write SAE ``sae_id`` (default: the corpus's default SAE) as ``fmt`` into ``out``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    started = time.perf_counter()
    with phases(f"export {fmt}", total=2) as clock, open_reader(path) as con:
        with clock.phase("read"):
            sae_row = pick_sae(con, corpus, sae_id)
            records = feature_records(con, sae_row.sae_id)
        folder = Path(out) if out else default_folder(corpus, sae_row.sae_id, fmt)
        with clock.phase("write"), atomic_folder(folder) as staging:
            if fmt == "parquet":
                write_parquet_folder(staging, con, sae_row, records)
            else:
                sae = load_topk_sae(con, sae_row)
                write = write_sparsify_folder if fmt == "safetensors" else write_sentence_transformers_folder
                write(staging, sae_row, sae, records)
    files = sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*") if p.is_file())
    return ExportReport(
        sae_row.sae_id,
        fmt,
        folder,
        files,
        sum(r["label"] is not None for r in records),
        sae_row.n_latents,
        time.perf_counter() - started,
    )
