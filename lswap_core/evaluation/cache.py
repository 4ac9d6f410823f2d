"""Features of judged images, cached on disk so that evaluating again is quick.

One safetensors file per judge (``<folder>/<judge>.safetensors``), keyed by what
determines the image: a generated image by its generator, codes and mixer; a file by its
bytes. Files are rewritten atomically, so an interrupted evaluation keeps what it finished.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from torch import Tensor

from ..files import atomic_path


def image_key(*parts: object) -> str:
    """A stable key from the things that determine an image (tensors by their bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Tensor):
            digest.update(part.detach().cpu().contiguous().numpy().tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


class FeatureCache:
    """Per-judge maps from image keys to feature rows; ``folder=None`` keeps nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._tables: dict[str, dict[str, Tensor]] = {}
        self._dirty: set[str] = set()

    def _path(self, judge: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', judge)}.safetensors"

    def table(self, judge: str) -> dict[str, Tensor]:
        if judge not in self._tables:
            self._tables[judge] = self._read(judge) if self.folder is not None else {}
        return self._tables[judge]

    def _read(self, judge: str) -> dict[str, Tensor]:
        from safetensors.torch import load_file

        path = self._path(judge)
        if not path.exists():
            return {}
        try:
            return dict(load_file(path))
        except Exception:  # noqa: BLE001 -- a damaged cache (any reader error) is rebuilt, never trusted
            path.unlink(missing_ok=True)
            return {}

    def lookup(self, judge: str, keys: list[str]) -> list[Tensor | None]:
        table = self.table(judge)
        return [table.get(key) for key in keys]

    def store(self, judge: str, keys: list[str], rows: Tensor) -> None:
        table = self.table(judge)
        for key, row in zip(keys, rows.detach().float().cpu(), strict=True):
            table[key] = row.clone()
        self._dirty.add(judge)

    def save(self) -> None:
        """Write the tables that changed."""
        from safetensors.torch import save_file

        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for judge in sorted(self._dirty):
            with atomic_path(self._path(judge)) as temporary:
                save_file({key: value.contiguous() for key, value in self._tables[judge].items()}, str(temporary))
        self._dirty.clear()
