"""Reading official checkpoints: the toolkit of converter plugins.

- `file_head`: what `Converter.sniff` looks at, read once per file and
  shared by every installed converter: the first bytes, the pickle of a
  ``torch.save`` zip archive, and the checkpoint's structure with
  shape-only tensors (`FileHead.state_dict`). Recognising a 400 MB file
  costs one read of its header, however many converters ask.
- `load_state_dict`, `require_keys`: a state dict out of a checkpoint (read
  without executing code), with errors that name what is wrong.

Everything here reads files as data through `lswap_core.legacy_pickle`.
"""

from __future__ import annotations

import contextlib
import functools
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .legacy_pickle import CORRUPT_FILE_ERRORS, load_checkpoint, peek_checkpoint

HEAD_BYTES = 1 << 20  # how much of a file `FileHead.head` holds
TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".tar")
_NOT_PEEKED = object()


class FileHead:
    """The beginning of a file, as converters sniff it; build with `file_head`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head = b""
        self.is_zip = False
        if path.is_file():
            try:
                with open(path, "rb") as handle:
                    self.head = handle.read(HEAD_BYTES)
                self.is_zip = zipfile.is_zipfile(path)
            except CORRUPT_FILE_ERRORS:  # is_zipfile raises BadZipFile for some damaged end records
                pass
        self._archive_pickle: bytes | None = None
        self._peeked: Any = _NOT_PEEKED

    @property
    def archive_pickle(self) -> bytes:
        """The pickle (``data.pkl``) of a ``torch.save`` zip archive; empty for other files."""
        if self._archive_pickle is None:
            self._archive_pickle = b""
            if self.is_zip:
                try:
                    with zipfile.ZipFile(self.path) as archive:
                        pickles = [name for name in archive.namelist() if name.endswith("data.pkl")]
                        if pickles:
                            self._archive_pickle = archive.read(pickles[0])
                except CORRUPT_FILE_ERRORS:  # a damaged archive: nothing to sniff in it
                    pass
        return self._archive_pickle

    def contains(self, marker: bytes) -> bool:
        """Whether ``marker`` occurs in the first bytes or in the archive's pickle."""
        return marker in self.head or marker in self.archive_pickle

    def peek(self) -> Any:
        """The checkpoint's structure with ``meta`` tensors (no data), or ``None`` when it is
        not a readable ``torch.save`` file."""
        if self._peeked is _NOT_PEEKED:
            try:
                self._peeked = peek_checkpoint(self.path)
            except CheckpointError:
                self._peeked = None
        return self._peeked

    def state_dict(self, key: str | None = None) -> dict[str, torch.Tensor] | None:
        """Shape-only tensors of the state dict at ``key`` (or the whole checkpoint) of a
        torch checkpoint with one of `TORCH_SUFFIXES`; ``None`` otherwise."""
        if self.path.suffix.lower() not in TORCH_SUFFIXES:
            return None
        return tensor_mapping(self.peek(), key)


def file_head(path: str | Path) -> FileHead:
    """The `FileHead` of ``path``, read once while the file is unchanged (size and time)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return FileHead(path)
    return _cached_head(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _cached_head(resolved: str, mtime_ns: int, size: int) -> FileHead:
    return FileHead(Path(resolved))


def tensor_mapping(obj: Any, key: str | None = None) -> dict[str, torch.Tensor] | None:
    """``obj[key]`` (or ``obj``) when it is a flat mapping of names to tensors, else ``None``."""
    if key is not None:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(obj, Mapping) or not obj:
        return None
    if not all(isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in obj.items()):
        return None
    return dict(obj)


def load_state_dict(path: Path, key: str | None, what: str) -> dict[str, torch.Tensor]:
    """The state dict at ``key`` of a checkpoint (read without executing code), or a clear error.

    :param what: what the file should be, for the error (``"a Deep3DFaceRecon checkpoint"``).
    """
    checkpoint = load_checkpoint(path)
    tensors = tensor_mapping(checkpoint, key)
    if tensors is None:
        found = ", ".join(map(str, list(checkpoint)[:8])) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        where = f"state dict under {key!r}" if key else "state dict"
        raise CheckpointError(f"{path} holds no {where} (it has {found}), so it is not {what}", hint="pass the official file")
    return {name: tensor.detach().clone().float() if tensor.is_floating_point() else tensor.clone() for name, tensor in tensors.items()}


# What reading a state dict's structure raises when the file is malformed: a key name that is no
# number where a block index belongs, a tensor of the wrong rank, an odd value type.
MALFORMED_STRUCTURE_ERRORS = (LookupError, TypeError, ValueError, AttributeError, RuntimeError, OverflowError)


@contextlib.contextmanager
def reading_structure(path: Path, what: str) -> Iterator[None]:
    """Turn the errors of reading a checkpoint's architecture from its keys and shapes into a
    `CheckpointError` (found by tests/fuzz: ``int('')`` of a key ``layer1..conv1.weight``)."""
    try:
        yield
    except MALFORMED_STRUCTURE_ERRORS as exc:
        text = str(exc).strip()
        reason = f"{type(exc).__name__}: {text.splitlines()[0][:160]}" if text else type(exc).__name__
        raise CheckpointError(f"{path} is a malformed {what} ({reason})", hint="pass the official file") from None


def check_block_numbers(path: Path, keys: Iterable[str], prefix: str, blocks: tuple[int, ...], what: str) -> None:
    """Refuse ResNet stages whose block numbers (``layer2.0.``, ``layer2.1.``...) have gaps: block
    counts are read from the largest number, and one key ``layer1.99999999.bn1.weight`` would
    otherwise build a network of a hundred million blocks."""
    keys = list(keys)
    for stage, count in enumerate(blocks, 1):
        stage_prefix = f"{prefix}layer{stage}."
        numbers = {key[len(stage_prefix) :].split(".")[0] for key in keys if key.startswith(stage_prefix)}
        canonical = all(number.isdecimal() and str(int(number)) == number and int(number) < count for number in numbers)
        if len(numbers) != count or not canonical:  # so exactly "0" ... str(count - 1)
            raise CheckpointError(
                f"{path}: the blocks of {stage_prefix[:-1]} are not numbered 0 to {count - 1}, so it is not {what}",
                hint="pass the official file",
            )


def require_keys(tensors: Mapping[str, torch.Tensor], keys: list[str], path: Path, what: str) -> None:
    """Raise a `CheckpointError` naming the missing keys unless all of ``keys`` are present."""
    missing = [key for key in keys if key not in tensors]
    if missing:
        shown = ", ".join(list(tensors)[:4])
        raise CheckpointError(
            f"{path} lacks {', '.join(missing)}, so it is not {what} (it holds {shown}...)",
            hint="pass the official file, or choose the converter for this one with --format",
        )
