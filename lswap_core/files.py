"""Writing files atomically, and hashing them.

Every file lswap writes goes to a temporary name in the target folder and is
renamed into place, so a crash or a full disk never leaves a half-written
file and never harms the old one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import CheckpointError, InputError

_HASH_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it into place.

    On any error the temporary file is removed and ``path`` is untouched. An
    ``OSError`` (full disk, read-only folder) becomes a `CheckpointError`.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"folder {folder} does not exist", hint="create it or choose another output path")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise CheckpointError(f"cannot write in {folder}: {exc.strerror}", hint="choose a writable folder") from None
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temp, umask_mode(0o666))  # mkstemp creates 0600; give the usual permissions
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise CheckpointError(
            f"could not write {path}: {exc.strerror or exc}", hint="free disk space or choose another folder"
        ) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def umask_mode(mode: int) -> int:
    """``mode`` restricted by the process umask: what ``open`` or ``mkdir`` would give (0o666 / 0o777)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    with atomic_path(path) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(path)


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()
