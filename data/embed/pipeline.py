"""Embed every document that has no cached vector yet, batch by batch, with a progress bar."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from data.embed import Embedder
from data.embeddings import EmbeddingError, pending_texts, record_failures, store_vectors


@dataclass
class EmbedStats:
    pending: int = 0
    stored: int = 0
    failed: int = 0


def embed_pending(con: duckdb.DuckDBPyConnection, embedder: Embedder, batch_size: int = 256, show_progress: bool = True) -> EmbedStats:
    """Embed only new or changed texts. A failed batch is recorded and retried next run, never zero-filled.

    Texts are processed sorted by length so each batch pads little.
    """
    pending = sorted(pending_texts(con, embedder.model), key=lambda item: len(item[1]))
    stats = EmbedStats(pending=len(pending))
    columns = (
        TextColumn("embedding"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f} docs/s"), TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task("embed", total=len(pending), rate=0.0)
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            hashes = [h for h, _ in chunk]
            try:
                vectors = embedder.embed([text for _, text in chunk])
                stats.stored += store_vectors(con, embedder.model, hashes, vectors)
            except EmbeddingError:
                raise
            except Exception as error:  # a backend failure: record it, keep going, retry next run
                record_failures(con, embedder.model, hashes, f"{type(error).__name__}: {error}")
                stats.failed += len(chunk)
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, advance=len(chunk), rate=(start + len(chunk)) / elapsed)
    return stats
