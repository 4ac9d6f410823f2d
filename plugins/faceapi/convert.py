"""``lswap convert`` for face-api's TensorFlow.js weights.

- ``face_recognition_model-weights_manifest.json`` becomes the ``faceapi``
  identity embedder;
- any other face-api manifest becomes a ``faceapi`` face analyzer holding
  that one net (a landmark-only or expression-only analyzer still serves its
  own methods);
- a face-api ``model/`` folder becomes one ``faceapi`` face analyzer holding
  every analysis net found there (detectors, landmarks, expressions,
  age/gender): the usual way to get a working detector + landmark pipeline.

Tensors keep their TF.js names (``/`` becomes ``.``) and are transposed to
PyTorch layouts: convolutions HWIO → OIHW, depthwise HWC1 → C1HW, dense
``(in, out)`` → ``(out, in)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.files import sha256_of

from . import tfjs
from .nets import ANALYZER_NETS, DETECTORS, LANDMARK_NETS, NETS, identify

FORMAT = "tfjs-weights-manifest"
# Graph constants some exports carry (SSD's stack sizes, preprocessing scalars): never weights.
_CONSTANT_MAX_ELEMENTS = 4


def to_torch_layout(name: str, array: np.ndarray) -> torch.Tensor:
    """A TF.js tensor in PyTorch's layout for the port's parameter of the same name."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim == 4:
        leaf = name.rsplit("/", 1)[-1]
        order = (2, 3, 0, 1) if leaf.startswith("depthwise") else (3, 2, 0, 1)
        return tensor.permute(*order).contiguous()
    if tensor.ndim == 2:
        return tensor.t().contiguous()
    if tensor.ndim == 3 and tensor.shape[0] == 1:  # SSD anchors (1, 5118, 4)
        return tensor[0].contiguous()
    return tensor


def convert_net(manifest: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """Read one manifest: the net's name and its tensors keyed like the port's ``state_dict``."""
    groups = tfjs.read_manifest(manifest)
    shapes = tfjs.tensor_shapes(groups)
    name = identify(shapes)
    if name is None:
        shown = ", ".join(sorted(shapes)[:5])
        raise CheckpointError(
            f"{manifest} holds a TF.js net lswap does not know (tensors {shown}...)",
            hint=f"lswap converts face-api's nets: {', '.join(NETS)}",
        )
    arrays = tfjs.read_weights(manifest, groups)
    expected = NETS[name].build().state_dict()
    tensors: dict[str, torch.Tensor] = {}
    unexpected = []
    for official, array in arrays.items():
        key = official.replace("/", ".")
        if key in expected:
            tensor = to_torch_layout(official, array).to(expected[key].dtype)
            if tensor.shape != expected[key].shape:
                raise CheckpointError(
                    f"{manifest}: {official} has shape {list(array.shape)}, the {name} net needs "
                    f"{list(expected[key].shape)} (in PyTorch layout)",
                    hint="the file is not an original face-api model",
                )
            tensors[key] = tensor
        elif array.size > _CONSTANT_MAX_ELEMENTS:
            unexpected.append(official)
    missing = sorted(key.replace(".", "/") for key in set(expected) - set(tensors))
    if missing or unexpected:
        details = []
        if missing:
            details.append(f"missing {', '.join(missing[:5])}" + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        if unexpected:
            details.append(f"unexpected {', '.join(unexpected[:5])}")
        raise CheckpointError(f"{manifest} looks like the {name} net but {'; '.join(details)}", hint="re-download the model files")
    return name, tensors


def _manifests_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.json") if tfjs.looks_like_manifest(path))


def analyzer_config(nets: list[str]) -> dict[str, Any]:
    """The face analyzer config for a set of held nets: SSD (face-api's default) over the tiny
    detector, the full landmark net over the tiny one."""
    ordered = [name for name in ANALYZER_NETS if name in nets]
    return {
        "nets": ordered,
        "detector": next((name for name in DETECTORS if name in nets), None),
        "landmarks": next((name for name in LANDMARK_NETS if name in nets), None),
    }


class TfjsManifestConverter(Converter):
    """face-api TF.js weights (a *-weights_manifest.json with its .bin, or the model/ folder)."""

    name = "faceapi"
    description = "face-api TF.js weight manifest (+ .bin), or face-api's model/ folder"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        if path.is_dir():
            return bool(_manifests_in(path))
        return tfjs.looks_like_manifest(path)

    def convert(self, path: Path) -> ConvertedWeights:
        manifests = _manifests_in(path) if path.is_dir() else [path]
        if not manifests:
            raise CheckpointError(f"{path} holds no TF.js weight manifest", hint="pass face-api's model/ folder or one manifest")
        converted: dict[str, dict[str, torch.Tensor]] = {}
        sources: dict[str, Path] = {}
        for manifest in manifests:
            name, tensors = convert_net(manifest)
            if name in converted:
                raise CheckpointError(
                    f"{path} holds the {name} net twice ({sources[name].name} and {manifest.name})",
                    hint="keep one of them",
                )
            converted[name], sources[name] = tensors, manifest
        if not path.is_dir() and "face_recognition" in converted:
            return self._result("embedder", {}, {f"net.{k}": v for k, v in converted["face_recognition"].items()}, sources)
        analysis = {name: tensors for name, tensors in converted.items() if NETS[name].role == "analyzer"}
        if not analysis:
            raise CheckpointError(
                f"{path} holds only the recognition net",
                hint=f"convert {NETS['face_recognition'].manifest} itself to get the faceapi embedder",
            )
        tensors = {f"nets.{name}.{key}": value for name, net in analysis.items() for key, value in net.items()}
        return self._result("face_analyzer", analyzer_config(list(analysis)), tensors, {n: sources[n] for n in analysis})

    @staticmethod
    def _result(kind: str, config: dict[str, Any], tensors: dict[str, torch.Tensor], sources: dict[str, Path]) -> ConvertedWeights:
        provenance = {
            "format": FORMAT,
            "origin": "@vladmandic/face-api (MIT), model/ folder of the npm package",
            "nets": ",".join(sources),
            "manifests": ",".join(f"{p.name}:{sha256_of(p)[:16]}" for p in sources.values()),
        }
        return ConvertedWeights(kind=kind, name="faceapi", config=config, tensors=tensors, provenance=provenance)
