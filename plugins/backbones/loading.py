"""Reading official state dicts for the face plugins' converters."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lswap_core.errors import CheckpointError
from lswap_core.legacy_pickle import load_checkpoint, peek_checkpoint

TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".tar")


def tensor_mapping(obj: Any, key: str | None = None) -> dict[str, torch.Tensor] | None:
    """``obj[key]`` (or ``obj``) when it is a flat mapping of names to tensors, else ``None``."""
    if key is not None:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(obj, Mapping) or not obj:
        return None
    if not all(isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in obj.items()):
        return None
    return dict(obj)


def peek_state_dict(path: Path, key: str | None = None) -> dict[str, torch.Tensor] | None:
    """For `Converter.sniff`: the state dict at ``key`` of a torch checkpoint, as shape-only
    tensors where the format allows; ``None`` when ``path`` is not such a file."""
    if path.suffix.lower() not in TORCH_SUFFIXES or not path.is_file():
        return None
    try:
        return tensor_mapping(peek_checkpoint(path), key)
    except CheckpointError:
        return None


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


def require_keys(tensors: Mapping[str, torch.Tensor], keys: list[str], path: Path, what: str) -> None:
    """Raise a `CheckpointError` naming the missing keys unless all of ``keys`` are present."""
    missing = [key for key in keys if key not in tensors]
    if missing:
        shown = ", ".join(list(tensors)[:4])
        raise CheckpointError(
            f"{path} lacks {', '.join(missing)}, so it is not {what} (it holds {shown}...)",
            hint="pass the official file, or choose the converter for this one with --format",
        )
