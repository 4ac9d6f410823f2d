"""What a command's failure tells the user: one line for everything a user can cause.

An ordered map from exceptions to a one-line message and an exit status:
lswap's own errors first, then Ctrl-C, running out of memory, files that
cannot be read or written, and invalid values torch rejects. Anything else is
a bug and keeps its traceback (`describe` returns ``None``).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import sys
import traceback
from collections.abc import Callable

from ..errors import Interrupted, LswapError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C

_OOM_HINT = "use a smaller batch (--set train.batch_size=N) or a device with more memory"
_OS_HINTS = {
    errno.EACCES: "choose a location you may write to, or change its permissions",
    errno.EPERM: "choose a location you may write to, or change its permissions",
    errno.EROFS: "the file system is read-only: choose another location",
    errno.ENOSPC: "free disk space or choose another location",
    errno.EDQUOT: "free disk space or choose another location",
    errno.ENOENT: "check the path",
    errno.EISDIR: "give a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


@dataclasses.dataclass(frozen=True)
class Failure:
    """How to report one failure: the line, whether it is an error (red, ``error:``) and the exit status."""

    message: str
    exit_code: int = EXIT_ERROR
    is_error: bool = True


def _lswap(error: BaseException) -> Failure | None:
    if isinstance(error, Interrupted):
        return Failure(str(error), EXIT_INTERRUPTED, is_error=False)
    return Failure(str(error)) if isinstance(error, LswapError) else None


def _interrupt(error: BaseException) -> Failure | None:
    if isinstance(error, KeyboardInterrupt):
        return Failure("interrupted; nothing was written", EXIT_INTERRUPTED, is_error=False)
    return None


def _out_of_memory(error: BaseException) -> Failure | None:
    torch = sys.modules.get("torch")  # torch's own error class, when torch is loaded at all
    torch_oom = torch is not None and isinstance(error, getattr(torch, "OutOfMemoryError", ()))
    text = str(error)
    cpu_oom = isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
    if isinstance(error, MemoryError) or torch_oom or cpu_oom:
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        return Failure(f"out of memory ({first[:160]}); {_OOM_HINT}")
    return None


def _os_error(error: BaseException) -> Failure | None:
    if not isinstance(error, OSError):
        return None
    where = error.filename if error.filename is not None else ""
    reason = error.strerror or str(error) or type(error).__name__
    hint = _OS_HINTS.get(error.errno or 0, "check the path and its permissions")
    return Failure(f"{where}: {reason}; {hint}" if where else f"{reason}; {hint}")


def _torch_value(error: BaseException) -> Failure | None:
    """A ``ValueError`` raised inside torch (an invalid setting it was handed), not in lswap's code."""
    if not isinstance(error, ValueError) or error.__traceback__ is None:
        return None
    origin = traceback.extract_tb(error.__traceback__)[-1].filename
    if f"{os.sep}torch{os.sep}" not in origin:
        return None
    return Failure(f"invalid value: {str(error).strip().splitlines()[0]}; check the settings given")


DESCRIBERS: tuple[Callable[[BaseException], Failure | None], ...] = (
    _lswap,
    _interrupt,
    _out_of_memory,
    _os_error,
    _torch_value,
)


def describe(error: BaseException) -> Failure | None:
    """The one-line report of a failure the user can cause, or ``None`` for a bug."""
    for describer in DESCRIBERS:
        failure = describer(error)
        if failure is not None:
            return failure
    return None
