"""Ctrl-C during training: finish the step, then stop cleanly.

The first Ctrl-C asks the loop to stop after the current step (it then
saves a resume state); a second one stops at once, except while a file is
being saved: then it waits until the file is complete.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class InterruptGuard:
    """What Ctrl-C has asked for so far."""

    def __init__(self) -> None:
        self.stop = threading.Event()  # set by the first Ctrl-C
        self._saving = 0
        self._abort_after_saving = False

    def handle(self) -> None:
        """React to one Ctrl-C."""
        if not self.stop.is_set():
            self.stop.set()
        elif self._saving:
            self._abort_after_saving = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """A block that a second Ctrl-C does not cut short (it takes effect when the block ends)."""
        self._saving += 1
        try:
            yield
        finally:
            self._saving -= 1
            if not self._saving and self._abort_after_saving:
                self._abort_after_saving = False
                raise KeyboardInterrupt


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[InterruptGuard]:
    """Handle Ctrl-C with an `InterruptGuard` for the duration of the block (main thread only)."""
    guard = InterruptGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return

    def handler(signum: int, frame: Any) -> None:
        guard.handle()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield guard
    finally:
        signal.signal(signal.SIGINT, previous)
