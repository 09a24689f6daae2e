"""Embed every document that has no cached vector yet, batch by batch, with a progress bar."""
from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from data.embed import Embedder, PartialEmbeddingFailure
from data.embeddings import EmbeddingError, pending_texts, record_failures, store_vectors


@dataclass
class EmbedStats:
    pending: int = 0
    stored: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """The first few distinct failure messages, for the run report."""

    def note(self, message: str, keep: int = 5) -> None:
        if len(self.errors) < keep and message not in self.errors:
            self.errors.append(message)


def embed_pending(
    con: duckdb.DuckDBPyConnection, embedder: Embedder, batch_size: int | None = None, show_progress: bool = True
) -> EmbedStats:
    """Embed only new or changed texts. A failed batch is recorded and retried next run, never zero-filled.

    Texts are processed sorted by length so each batch pads little. Vectors that must not be
    stored (NaN/inf, a width other than the stored one) abort with ``EmbeddingError``.
    """
    batch_size = batch_size or getattr(embedder, "batch_size", 256)
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
            except PartialEmbeddingFailure as partial:  # keep what succeeded, retry the rest next run
                done = np.flatnonzero(partial.ok)
                if done.size:
                    stats.stored += store_vectors(con, embedder.model, [hashes[i] for i in done], partial.vectors[done])
                failed = [hashes[i] for i in np.flatnonzero(~partial.ok)]
                record_failures(con, embedder.model, failed, str(partial))
                stats.failed += len(failed)
                stats.note(str(partial))
            except Exception as error:  # a backend failure: record it, keep going, retry next run
                message = f"{type(error).__name__}: {error}"
                record_failures(con, embedder.model, hashes, message)
                stats.failed += len(chunk)
                stats.note(message)
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, advance=len(chunk), rate=(start + len(chunk)) / elapsed)
    return stats
