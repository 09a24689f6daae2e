"""Progress on stderr for every long command: a rich bar over a loop (count, rate, ETA) or over named phases."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Item = TypeVar("Item")


def _bar(field_name: str, clock: ProgressColumn) -> Progress:
    """A bar on stderr: description, bar, done/total, the task's ``field_name`` field, then ``clock``."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, TextColumn(f"{{task.fields[{field_name}]}}"), clock, console=Console(stderr=True))


def tracked(items: Iterable[Item], description: str, unit: str, total: int | None = None) -> Iterator[Item]:
    """Yield ``items`` while a bar shows ``description``, done/total, ``unit``/s and the time remaining."""
    count = total if total is not None else (len(items) if isinstance(items, Sized) else None)
    with _bar("rate", TimeRemainingColumn()) as progress:
        task = progress.add_task(description, total=count, rate="")
        for item in items:
            yield item
            progress.advance(task)
            speed = progress.tasks[task].speed
            progress.update(task, rate="" if speed is None else f"{speed:.1f} {unit}/s")


@dataclass
class Stopwatch:
    """Seconds per named phase of a run (for reports and benchmarks); ``phases`` also shows them as a bar."""

    seconds: dict[str, float] = field(default_factory=dict)
    _display: tuple[Progress, TaskID] | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self._display is not None:
            progress, task = self._display
            progress.update(task, phase=name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            if self._display is not None:
                progress.advance(task)


@contextmanager
def phases(description: str, total: int) -> Iterator[Stopwatch]:
    """A Stopwatch whose ``total`` phases advance a bar: ``description``, the phase running, done/total, elapsed."""
    with _bar("phase", TimeElapsedColumn()) as progress:
        task = progress.add_task(description, total=total, phase="")
        yield Stopwatch(_display=(progress, task))
