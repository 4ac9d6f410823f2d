"""Exports and resume states, written atomically.

Two kinds of file (the split nanoGPT and torchtitan make between model-only
and training checkpoints):

- an *export*: a component's tensors in safetensors, with what is needed to
  rebuild it in the file's metadata (component kind and name, config,
  provenance, lswap version, format version). Safe to share and to load.
- a *resume state*: everything a training run needs to continue exactly
  (module and optimizer states, step, RNG states, config), saved with
  ``torch.save`` and read back with ``torch.load(weights_only=True)`` only,
  never by unpickling arbitrary objects.

Every file is written to a temporary name in the target folder and renamed
into place (`lswap_core.files.atomic_path`), so a crash or a full disk never
leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .errors import CheckpointError
from .files import atomic_path
from .legacy_pickle import CORRUPT_FILE_ERRORS
from .config import to_data
from .version import __version__

EXPORT_FORMAT_VERSION = 1
RESUME_FORMAT_VERSION = 1
_META_PREFIX = "lswap."
_RECORD_PREFIX = "lswap.record."


# -- exports --------------------------------------------------------------------------


@dataclasses.dataclass
class Export:
    """A component export read back from disk."""

    kind: str
    name: str
    config: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    provenance: dict[str, str]
    plugin: str | None = None
    lswap_version: str | None = None
    format_version: int = EXPORT_FORMAT_VERSION
    records: dict[str, Any] = dataclasses.field(default_factory=dict)  # see `save_export`


def _plain_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU tensors, copying those that share memory (safetensors refuses aliases)."""
    result: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for key, tensor in tensors.items():
        tensor = tensor.detach().to("cpu").contiguous()
        identity = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if tensor.numel() and identity in seen:
            tensor = tensor.clone()
        seen.add(identity)
        result[key] = tensor
    return result


def save_export(
    path: str | Path,
    *,
    kind: str,
    name: str,
    config: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    provenance: Mapping[str, str] | None = None,
    plugin: str | None = None,
    records: Mapping[str, Any] | None = None,
) -> Path:
    """Write tensors and their rebuild information as a safetensors export.

    :param records: named plain-data records of what the component was made
        with or for (a mixer's ``trained_with``: its generator and sampling),
        read back as `Export.records`.
    """
    metadata = {
        "format": "pt",
        f"{_META_PREFIX}format_version": str(EXPORT_FORMAT_VERSION),
        f"{_META_PREFIX}kind": kind,
        f"{_META_PREFIX}name": name,
        f"{_META_PREFIX}config": json.dumps(to_data(dict(config)), sort_keys=True),
        f"{_META_PREFIX}provenance": json.dumps(dict(provenance or {}), sort_keys=True),
        f"{_META_PREFIX}version": __version__,
    }
    if plugin:
        metadata[f"{_META_PREFIX}plugin"] = plugin
    for key, record in (records or {}).items():
        metadata[f"{_RECORD_PREFIX}{key}"] = json.dumps(to_data(record), sort_keys=True)
    plain = _plain_tensors(tensors)
    with atomic_path(path) as temp:
        save_file(plain, str(temp), metadata=metadata)
    return Path(path)


def save_component(
    component: nn.Module,
    path: str | Path,
    provenance: Mapping[str, str] | None = None,
    records: Mapping[str, Any] | None = None,
) -> Path:
    """Export a registered component (anything with ``kind``, ``name`` and ``config_dict()``)."""
    return save_export(
        path,
        kind=component.kind,  # type: ignore[attr-defined]
        name=component.name,  # type: ignore[attr-defined]
        config=component.config_dict(),  # type: ignore[operator]
        tensors=component.state_dict(),
        provenance=provenance,
        records=records,
    )


def read_export_metadata(path: str | Path) -> dict[str, str]:
    """The raw metadata of a safetensors file (reads only its header)."""
    path = _existing(path, "export")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise _corrupt(path, exc) from None


def read_export(path: str | Path, *, device: str | torch.device = "cpu") -> Export:
    """Read an lswap export, checking that it is complete and of a known format."""
    path = _existing(path, "export")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 - safe_open has no items()
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError, OverflowError) as exc:
        # TypeError: torch cannot take a shape past int64 from the header (found by tests/fuzz)
        raise _corrupt(path, exc) from None
    if f"{_META_PREFIX}kind" not in metadata:
        raise CheckpointError(
            f"{path} is a safetensors file but not an lswap export (no lswap metadata)",
            hint=f"import it with `lswap convert {path} OUT.safetensors`",
        )
    try:
        version = int(metadata.get(f"{_META_PREFIX}format_version", "0"))
    except ValueError:
        raise CheckpointError(f"{path} has a malformed export format version", hint="re-download or re-export it") from None
    if version > EXPORT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is export format {version}, this lswap reads up to {EXPORT_FORMAT_VERSION}",
            hint="upgrade lswap",
        )
    try:
        config = json.loads(metadata.get(f"{_META_PREFIX}config", "{}"))
        provenance = json.loads(metadata.get(f"{_META_PREFIX}provenance", "{}"))
        records = {key[len(_RECORD_PREFIX) :]: json.loads(value) for key, value in metadata.items() if key.startswith(_RECORD_PREFIX)}
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
        raise _corrupt(path, exc) from None
    if not isinstance(config, dict) or not isinstance(provenance, dict):
        raise CheckpointError(f"{path} has a malformed config or provenance (not a JSON object)", hint="re-download or re-export it")
    return Export(
        kind=metadata[f"{_META_PREFIX}kind"],
        name=metadata.get(f"{_META_PREFIX}name", ""),
        config=config,
        tensors=tensors,
        provenance=provenance,
        plugin=metadata.get(f"{_META_PREFIX}plugin"),
        lswap_version=metadata.get(f"{_META_PREFIX}version"),
        format_version=version,
        records=records,
    )


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """Hex SHA-256 of named tensors (names, dtypes, shapes and values), independent of device and file.

    Identifies weights however they were stored: the same state dict hashes
    the same from any export, and a network initialised from a seed hashes
    differently from one initialised from another.
    """
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_state_strict(module: nn.Module, tensors: Mapping[str, torch.Tensor], *, source: str) -> None:
    """``load_state_dict(strict=True)`` with an error naming missing, unexpected and misshapen tensors."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    misshapen = sorted(
        f"{key} {tuple(tensors[key].shape)} vs {tuple(expected[key].shape)}"
        for key in set(expected) & set(tensors)
        if tensors[key].shape != expected[key].shape
    )
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)):
        if keys:
            shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise CheckpointError(
            f"{source} does not fit {type(module).__name__} ({'; '.join(problems)})",
            hint="use weights made for this architecture and config",
        )
    module.load_state_dict(dict(tensors), strict=True)


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if path.is_dir():
        article = "an" if what[0] in "aeiou" else "a"
        raise CheckpointError(f"{path} is a folder, not {article} {what} file", hint="pass the file itself")
    if not path.is_file():
        raise CheckpointError(f"{what} file {path} does not exist", hint="check the path")
    return path


def _corrupt(path: Path, exc: BaseException) -> CheckpointError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CheckpointError(f"{path} is truncated or corrupt ({reason})", hint="re-download or re-export it")


# -- resume states --------------------------------------------------------------------


@dataclasses.dataclass
class ResumeState:
    """Everything needed to continue a training run exactly where it stopped.

    :param modules: ``state_dict`` of each trained module, by role.
    :param optimizers: ``state_dict`` of each optimizer (and scheduler), by role.
    :param rng: from `capture_rng_state`.
    :param config: the resolved run config as plain data.
    :param extra: anything else the loop needs (plain data and tensors only).
    """

    step: int
    modules: dict[str, dict[str, Any]]
    optimizers: dict[str, dict[str, Any]]
    rng: dict[str, Any]
    config: dict[str, Any]
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    format_version: int = RESUME_FORMAT_VERSION


def save_resume_state(path: str | Path, state: ResumeState) -> Path:
    """Write a resume state atomically."""
    payload = dataclasses.asdict(state)
    payload["format_version"] = RESUME_FORMAT_VERSION
    with atomic_path(path) as temp:
        torch.save(payload, temp)
    return Path(path)


def load_resume_state(path: str | Path, *, map_location: str | torch.device = "cpu") -> ResumeState:
    """Read a resume state with ``weights_only=True``; refuses anything else."""
    path = _existing(path, "resume state")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if "weights only" in first.lower() or "weights_only" in first.lower():
            raise CheckpointError(
                f"{path} holds Python objects other than tensors and plain data; lswap does not unpickle them",
                hint="resume only from states lswap wrote",
            ) from None
        raise _corrupt(path, exc) from None
    except CORRUPT_FILE_ERRORS as exc:  # torch's reader of a damaged file raises many types
        raise _corrupt(path, exc) from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"{path} is not an lswap resume state", hint="pass a file from a run's resume folder")
    version = payload["format_version"]
    if not isinstance(version, int) or version > RESUME_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is resume format {version}, this lswap reads up to {RESUME_FORMAT_VERSION}",
            hint="upgrade lswap to resume it",
        )
    fields = {f.name for f in dataclasses.fields(ResumeState)}
    missing = sorted(fields - set(payload) - {"extra"})
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}; it is not a complete resume state")
    return ResumeState(**{key: payload[key] for key in fields if key in payload})


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG state that a run could touch, as tensors and plain data."""
    numpy_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Undo `capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
