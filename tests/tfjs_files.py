"""Writers of TensorFlow.js weight manifests and shards, for converter tests.

`write_manifest` lays tensors out as tfjs's ``encodeWeights`` does: one group,
tensors back to back in the ``.bin`` shards, quantised ones stored as
``uint8``/``uint16`` codes with their ``scale`` and ``min`` (or as
``float16``). `net_tensors` turns a PyTorch port's ``state_dict`` back into
face-api's names and TF layouts, so a test can build a file of any net.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch


def quantise(values: np.ndarray, dtype: str) -> tuple[np.ndarray, dict[str, float | str]]:
    """Codes and the quantization record of ``values`` (``uint8``, ``uint16`` or ``float16``)."""
    if dtype == "float16":
        return values.astype(np.float16), {"dtype": "float16"}
    levels = 255 if dtype == "uint8" else 65535
    low, high = float(values.min()), float(values.max())
    scale = (high - low) / levels if high > low else 1.0
    codes = np.round((values - low) / scale).astype(np.uint8 if dtype == "uint8" else np.uint16)
    return codes, {"dtype": dtype, "scale": scale, "min": low}


def write_manifest(
    folder: Path,
    stem: str,
    tensors: Mapping[str, np.ndarray],
    *,
    quantised: Mapping[str, str] | None = None,
    shards: int = 1,
) -> Path:
    """Write ``{stem}-weights_manifest.json`` and its shards; returns the manifest path.

    :param tensors: TF.js name -> array (float32 or int32), in order.
    :param quantised: TF.js name -> ``uint8`` / ``uint16`` / ``float16``.
    :param shards: split the data over this many ``.bin`` files.
    """
    quantised = dict(quantised or {})
    entries, blobs = [], []
    for name, array in tensors.items():
        entry = {"name": name, "shape": list(array.shape), "dtype": "int32" if array.dtype == np.int32 else "float32"}
        if name in quantised:
            codes, record = quantise(array.astype(np.float64), quantised[name])
            entry["quantization"] = record
            blobs.append(codes.astype(codes.dtype.newbyteorder("<")).tobytes())
        else:
            blobs.append(array.astype(array.dtype.newbyteorder("<")).tobytes())
        entries.append(entry)
    data = b"".join(blobs)
    cut = -(-len(data) // shards)
    paths = []
    for index in range(shards):
        path = folder / (f"{stem}.bin" if shards == 1 else f"{stem}-shard{index + 1}of{shards}.bin")
        path.write_bytes(data[index * cut : (index + 1) * cut])
        paths.append(path.name)
    manifest = folder / f"{stem}-weights_manifest.json"
    manifest.write_text(json.dumps([{"paths": paths, "weights": entries}]))
    return manifest


def to_tf_layout(key: str, tensor: torch.Tensor) -> np.ndarray:
    """Undo the converter's layout change for one port tensor."""
    array = tensor.detach().numpy()
    if array.ndim == 4:
        leaf = key.rsplit(".", 1)[-1]
        return np.ascontiguousarray(array.transpose(2, 3, 0, 1) if leaf.startswith("depthwise") else array.transpose(2, 3, 1, 0))
    if array.ndim == 2 and key.endswith("extra_dim"):
        return array[None]
    if array.ndim == 2:
        return np.ascontiguousarray(array.T)
    return array


def net_tensors(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A port's tensors under face-api's names, in TF layouts."""
    return {key.replace(".", "/"): to_tf_layout(key, value) for key, value in module.state_dict().items()}
