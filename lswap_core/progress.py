"""Progress bars for long loops (training, inversion, batch swaps).

Bars go to stderr so stdout stays clean for data. ``LSWAP_NO_PROGRESS=1``
turns them off (metrics still reach the caller).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")


def progress_enabled() -> bool:
    return os.environ.get("LSWAP_NO_PROGRESS", "").strip().lower() not in {"1", "true", "yes", "on"}


class ProgressBar:
    """One task's bar: `advance` it and show the latest metrics beside it."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, steps: int = 1, metrics: Mapping[str, float] | None = None) -> None:
        if self._progress is None or self._task is None:
            return
        text = "  ".join(f"{name} {value:.4g}" for name, value in (metrics or {}).items())
        self._progress.update(self._task, advance=steps, metrics=text)


@contextlib.contextmanager
def progress_bar(total: int | None, description: str, *, completed: int = 0) -> Iterator[ProgressBar]:
    """A rich progress bar with rate, ETA and a metrics column."""
    if not progress_enabled():
        yield ProgressBar(None, None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[metrics]}"),
        console=Console(stderr=True),
    )
    with progress:
        task = progress.add_task(description, total=total, completed=completed, metrics="")
        yield ProgressBar(progress, task)


class _RateColumn(ProgressColumn):
    """Items per second; blank until rich has measured a rate (``task.speed`` is ``None`` at first)."""

    def render(self, task: Task) -> Text:
        return Text("" if task.speed is None else f"{task.speed:.2f}/s")


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(total, description) as bar:
        for item in items:
            yield item
            bar.advance()
