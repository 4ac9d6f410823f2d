"""Consoles and the one-line rendering of user errors."""

from __future__ import annotations

import os

from rich.console import Console
from rich.text import Text

from .failures import Failure

DEBUG_ENV = "LSWAP_DEBUG"


def debug_mode() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def stdout_console() -> Console:
    # Built on each use: test runners swap sys.stdout between invocations.
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def report_warning(message: str) -> None:
    """Print a problem that did not stop the command as one yellow line on stderr."""
    stderr_console().print(Text.assemble(("warning: ", "bold yellow"), (" ".join(message.split()), "yellow")))


def report_failure(failure: Failure) -> None:
    """Print a failure as one line on stderr: red with ``error:`` for errors, yellow for interruptions."""
    message = " ".join(failure.message.split())  # never more than one line
    if failure.is_error:
        stderr_console().print(Text.assemble(("error: ", "bold red"), (message, "red")))
    else:
        stderr_console().print(Text(message, style="yellow"))
