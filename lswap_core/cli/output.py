"""Consoles and the one-line rendering of user errors."""

from __future__ import annotations

import os

from rich.console import Console
from rich.text import Text

from ..errors import LswapError

DEBUG_ENV = "LSWAP_DEBUG"


def debug_mode() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def stdout_console() -> Console:
    # Built on each use: test runners swap sys.stdout between invocations.
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def report_error(error: LswapError) -> None:
    """Print a user error as one red line on stderr."""
    message = " ".join(str(error).split())  # never more than one line
    stderr_console().print(Text.assemble(("error: ", "bold red"), (message, "red")))
