"""Reading TensorFlow.js weight manifests and their binary shards.

A manifest (``*-weights_manifest.json``) is a JSON list of groups; each group
names its shard files (``paths``, concatenated in order) and the tensors laid
out one after another in them (``weights``: ``name``, ``shape``, ``dtype`` and
an optional ``quantization``). Quantised tensors are dequantised as tfjs's
``decodeWeights`` does (``tfjs-core/src/io/io_utils.ts``):
``value = q * scale + min`` for ``uint8``/``uint16`` (rounded for ``int32``
tensors), IEEE half floats for ``float16``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from lswap_core.errors import CheckpointError

_PLAIN_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.uint8}
_QUANTISED_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def looks_like_manifest(path: Path) -> bool:
    """A cheap check: a ``.json`` file holding a list of groups with ``paths`` and ``weights``."""
    if path.suffix.lower() != ".json" or not path.is_file() or path.stat().st_size > 16 * 2**20:
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: nested too deeply
        return False
    return isinstance(data, list) and bool(data) and all(isinstance(g, dict) and "weights" in g and "paths" in g for g in data)


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The manifest's groups, checked for the fields the reader needs."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}", hint="check the file") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})", hint="re-download the model files"
        ) from None
    except RecursionError:
        raise CheckpointError(f"{path} is not a TF.js weights manifest (JSON nested too deeply)") from None
    if not isinstance(data, list) or not data:
        raise CheckpointError(f"{path} is not a TF.js weights manifest (expected a list of weight groups)")
    for index, group in enumerate(data):
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list) or not isinstance(group.get("weights"), list):
            raise CheckpointError(f"{path}: weight group {index} lacks 'paths' or 'weights'", hint="re-download the model files")
        for name in group["paths"]:
            if not _is_shard_name(name):
                raise CheckpointError(
                    f"{path}: weight group {index} names a shard {str(name)[:80]!r} that is not a file name beside the manifest",
                    hint="re-download the model files",
                )
        for spec in group["weights"]:
            if not isinstance(spec, dict) or not {"name", "shape", "dtype"} <= set(spec):
                raise CheckpointError(f"{path}: a weight entry of group {index} lacks name, shape or dtype: {_shown(spec)}")
            problem = _spec_problem(spec)
            if problem:
                raise CheckpointError(f"{path}: weight entry {_shown(spec.get('name'))} of group {index} {problem}",
                                      hint="re-download the model files")
    return data


def _shown(value: Any) -> str:
    try:
        return f"{value!r:.80}"
    except RecursionError:
        return "(nested too deeply)"


def _is_shard_name(name: Any) -> bool:
    """A relative path that stays in the manifest's folder (tfjs resolves shards beside the manifest)."""
    if not isinstance(name, str) or not name or "\x00" in name:
        return False
    parts = Path(name).parts
    return not Path(name).is_absolute() and ".." not in parts and bool(parts)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spec_problem(spec: dict[str, Any]) -> str | None:
    """What is wrong with a weight entry's fields, or ``None``."""
    if not isinstance(spec["name"], str):
        return "has a name that is not a string"
    if not isinstance(spec["shape"], list) or not all(_is_count(size) for size in spec["shape"]):
        return f"has shape {_shown(spec['shape'])}, not a list of sizes"
    if not isinstance(spec["dtype"], str):
        return f"has dtype {_shown(spec['dtype'])}, not a name"
    quantization = spec.get("quantization")
    if quantization is not None:
        if not isinstance(quantization, dict) or not isinstance(quantization.get("dtype"), str):
            return f"has quantization {_shown(quantization)}, not a record with a dtype"
        if any(key in quantization and not _is_number(quantization[key]) for key in ("scale", "min")):
            return "has a quantization scale or min that is not a number"
    return None


def tensor_shapes(groups: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Tensor name -> shape, for identifying a net before reading its shards."""
    return {spec["name"]: list(spec["shape"]) for group in groups for spec in group["weights"]}


def _entry_size(spec: dict[str, Any], manifest: Path) -> tuple[int, np.dtype]:
    count = math.prod(spec["shape"])  # Python integers: a huge shape must not wrap around
    quantization = spec.get("quantization")
    if quantization is not None:
        stored = _QUANTISED_DTYPES.get(quantization.get("dtype"))
        if stored is None:
            raise CheckpointError(
                f"{manifest}: {spec['name']} uses quantization {quantization.get('dtype')!r}",
                hint="lswap reads uint8, uint16 and float16 quantisation",
            )
        if quantization["dtype"] != "float16" and not {"scale", "min"} <= set(quantization):
            raise CheckpointError(f"{manifest}: quantised {spec['name']} lacks its scale or min")
    else:
        stored = _PLAIN_DTYPES.get(spec["dtype"])
        if stored is None:
            raise CheckpointError(f"{manifest}: {spec['name']} has unsupported dtype {spec['dtype']!r}")
    return count, np.dtype(stored)


def _decode(spec: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    quantization = spec.get("quantization")
    if quantization is None:
        values = raw
    elif quantization["dtype"] == "float16":
        values = raw.astype(np.float32)
    else:
        # float64 arithmetic then one rounding to float32, as JavaScript computes it
        values = raw.astype(np.float64) * float(quantization["scale"]) + float(quantization["min"])
        if spec["dtype"] == "int32":
            values = np.floor(values + 0.5)  # Math.round
    target = np.int32 if spec["dtype"] == "int32" else np.float32
    return np.array(values, dtype=target).reshape(spec["shape"])  # a writable copy


def read_weights(manifest: Path, groups: list[dict[str, Any]] | None = None) -> dict[str, np.ndarray]:
    """Every tensor of a manifest, dequantised, by its TF.js name.

    :raises CheckpointError: a shard is missing, shorter or longer than the
        manifest says, or a tensor has a format tfjs does not write.
    """
    groups = read_manifest(manifest) if groups is None else groups
    tensors: dict[str, np.ndarray] = {}
    for group in groups:
        shards = [manifest.parent / name for name in group["paths"]]
        missing = [shard.name for shard in shards if not shard.is_file()]
        if missing:
            raise CheckpointError(
                f"{manifest.name} needs {', '.join(missing)} beside it in {manifest.parent}",
                hint="copy the .bin files that came with the manifest into the same folder",
            )
        try:
            data = b"".join(shard.read_bytes() for shard in shards)
        except OSError as exc:
            raise CheckpointError(f"cannot read the shards of {manifest.name}: {exc}", hint="check the files") from None
        offset = 0
        for spec in group["weights"]:
            count, stored = _entry_size(spec, manifest)
            size = count * stored.itemsize
            if offset + size > len(data):
                raise CheckpointError(
                    f"{', '.join(group['paths'])} is truncated: {len(data)} bytes, the manifest needs more for {spec['name']}",
                    hint="re-download the model files",
                )
            raw = np.frombuffer(data, dtype=stored.newbyteorder("<"), count=count, offset=offset)
            tensors[spec["name"]] = _decode(spec, raw)
            offset += size
        if offset != len(data):
            raise CheckpointError(
                f"{', '.join(group['paths'])} has {len(data) - offset} bytes more than {manifest.name} describes",
                hint="the manifest and the .bin files come from different models; re-download them together",
            )
    return tensors
