"""Embed every document that has no cached vector yet, batch by batch, with a progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from data.embed import Embedder, PartialEmbeddingFailure
from data.embeddings import arxiv_ids_of, pending_texts, record_failures, record_model, store_vectors
from data.warehouse import open_writer


@dataclass
class EmbedStats:
    pending: int = 0
    stored: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """The first few distinct failure messages, for the run report."""
    cut: int = 0
    """Texts longer than the model's input window, embedded from their beginning only."""
    mostly_unknown: int = 0
    """Texts whose tokens are mostly unknown to the model (their vectors say little about them)."""
    cut_examples: list[str] = field(default_factory=list)
    unknown_examples: list[str] = field(default_factory=list)
    """A few arXiv ids of each."""

    def note(self, message: str, keep: int = 5) -> None:
        if len(self.errors) < keep and message not in self.errors:
            self.errors.append(message)


def embed_pending(
    warehouse: str | Path, embedder: Embedder, batch_size: int | None = None, show_progress: bool = True
) -> EmbedStats:
    """Embed only new or changed texts. A failed batch is recorded and retried next run, never zero-filled.

    Texts are processed sorted by length so each batch pads little. The warehouse is opened only
    to read what is pending and to store each batch, never while the model or the API works, so
    readers (the dashboard) are not locked out of a long run. Vectors that must not be stored
    (NaN/inf, a width other than the stored one) abort with ``EmbeddingError``.
    """
    size: int = batch_size if batch_size else getattr(embedder, "batch_size", 256)
    with open_writer(warehouse) as con:
        pending = sorted(pending_texts(con, embedder.model), key=lambda item: len(item[1]))
        if pending and getattr(embedder, "info", None) is not None:
            record_model(con, embedder.info)  # type: ignore[attr-defined]  # checked just above; not every Embedder has one  # refuses a changed model folder before any work
    stats = EmbedStats(pending=len(pending))
    columns = (
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f} docs/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task("embed", total=len(pending), rate=0.0)
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            _embed_and_store(warehouse, embedder, [h for h, _ in chunk], [text for _, text in chunk], stats)
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, advance=len(chunk), rate=(start + len(chunk)) / elapsed)
    return stats


def _embed_and_store(
    warehouse: str | Path, embedder: Embedder, hashes: list[str], texts: list[str], stats: EmbedStats
) -> None:
    _count_altered(warehouse, embedder, hashes, texts, stats)
    try:
        vectors = embedder.embed(texts)
    except PartialEmbeddingFailure as partial:  # keep what succeeded, retry the rest next run
        done, failed = np.flatnonzero(partial.ok), np.flatnonzero(~partial.ok)
        with open_writer(warehouse) as con:
            if done.size:
                stats.stored += store_vectors(con, embedder.model, [hashes[i] for i in done], partial.vectors[done])
            record_failures(con, embedder.model, [hashes[i] for i in failed], str(partial))
        stats.failed += len(failed)
        stats.note(str(partial))
        return
    except Exception as error:  # a backend failure: record it, keep going, retry next run
        message = f"{type(error).__name__}: {error}"
        with open_writer(warehouse) as con:
            record_failures(con, embedder.model, hashes, message)
        stats.failed += len(hashes)
        stats.note(message)
        return
    with open_writer(warehouse) as con:
        stats.stored += store_vectors(con, embedder.model, hashes, vectors)  # EmbeddingError aborts the run


def _count_altered(
    warehouse: str | Path, embedder: Embedder, hashes: list[str], texts: list[str], stats: EmbedStats
) -> None:
    """Count (and name a few of) the texts the model cannot take as they are; see ``data.embed.InputCheck``."""
    check_inputs = getattr(embedder, "check_inputs", None)
    if check_inputs is None:
        return
    check = check_inputs(texts)
    stats.cut += int(check.cut.sum())
    stats.mostly_unknown += int(check.mostly_unknown.sum())
    wanted = [
        (flags, examples)
        for flags, examples in ((check.cut, stats.cut_examples), (check.mostly_unknown, stats.unknown_examples))
        if flags.any() and len(examples) < 5
    ]
    if wanted:
        with open_writer(warehouse) as con:
            for flags, examples in wanted:
                examples += arxiv_ids_of(con, [hashes[i] for i in np.flatnonzero(flags)[: 5 - len(examples)]])
