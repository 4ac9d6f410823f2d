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
from rich.table import Column
from rich.text import Text

T = TypeVar("T")


def progress_enabled() -> bool:
    return os.environ.get("LSWAP_NO_PROGRESS", "").strip().lower() not in {"1", "true", "yes", "on"}


class RateColumn(ProgressColumn):
    """Iterations per second, once known."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.2f}/s" if task.speed else "")


class ProgressBar:
    """One task's bar: `advance` it and show the latest metrics beside it."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task

    def set_total(self, total: int) -> None:
        """Set the number of steps, once the job knows it."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def advance(self, steps: int = 1, metrics: Mapping[str, float] | None = None) -> None:
        if self._progress is None or self._task is None:
            return
        text = "  ".join(f"{name} {value:.4g}" for name, value in (metrics or {}).items())
        self._progress.update(self._task, advance=steps, metrics=text)


@contextlib.contextmanager
def progress_bar(
    total: int | None, description: str, *, completed: int = 0, enabled: bool = True
) -> Iterator[ProgressBar]:
    """A rich progress bar with rate, ETA and a metrics column (``enabled=False``: silent)."""
    if not (enabled and progress_enabled()):
        yield ProgressBar(None, None)
        return
    # Fixed columns never shrink; the bar and the metrics share what is left, so an 80-column
    # terminal still shows done/total, the elapsed time and the ETA whole.
    def fixed() -> Column:
        return Column(no_wrap=True)

    progress = Progress(
        TextColumn("[bold]{task.description}", table_column=fixed()),
        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=5)),
        MofNCompleteColumn(table_column=fixed()),
        TimeElapsedColumn(table_column=fixed()),
        TextColumn("eta", table_column=fixed()),
        TimeRemainingColumn(table_column=fixed()),
        RateColumn(table_column=fixed()),
        TextColumn("{task.fields[metrics]}", table_column=Column(ratio=2, no_wrap=True, overflow="ellipsis")),
        console=Console(stderr=True),
        expand=True,
    )
    with progress:
        task = progress.add_task(description, total=total, completed=completed, metrics="")
        yield ProgressBar(progress, task)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(total, description) as bar:
        for item in items:
            yield item
            bar.advance()
