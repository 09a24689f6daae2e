"""One progress bar for every command's long loop: rich, on stderr, with count, rate and ETA."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

Item = TypeVar("Item")


def tracked(items: Iterable[Item], description: str, unit: str, total: int | None = None) -> Iterator[Item]:
    """Yield ``items`` while a bar shows ``description``, done/total, ``unit``/s and the time remaining."""
    count = total if total is not None else (len(items) if isinstance(items, Sized) else None)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=count, rate="")
        for item in items:
            yield item
            progress.advance(task)
            speed = progress.tasks[task].speed
            progress.update(task, rate="" if speed is None else f"{speed:.1f} {unit}/s")
