"""Import of pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``, read as data (nothing in it runs).

The file is a ``torch.save`` state dict of pytorch-fid's patched torchvision ``Inception3`` (1008
classes, no auxiliary classifier); lswap's restricted unpickler reads it. The export keeps every
tensor up to pool3 under its official name and drops the classifier (``fc.*``, unused by FID) and
batch norm's ``num_batches_tracked`` counters (unused in inference).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.official_files import file_head, load_state_dict, require_keys

from .features import FIDInception
from .network import InceptionV3FID

WHAT = "pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth)"
CLASSIFIER = {"fc.weight": (1008, 2048), "fc.bias": (1008,)}  # TF's graph has 1008 classes, torchvision's 1000
LAST_KEY = "Mixed_7c.branch_pool.conv.weight"


def expected_keys() -> list[str]:
    """The official names of the tensors up to pool3, in the network's order."""
    with torch.device("meta"):  # names and shapes only
        return list(InceptionV3FID().state_dict())


def fid_tensors(found: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """The export's tensors from the official state dict; anything unknown in it is refused."""
    keys = expected_keys()
    require_keys(found, keys, path, WHAT)
    for key, shape in CLASSIFIER.items():
        if key in found and tuple(found[key].shape) != shape:
            raise CheckpointError(
                f"{path}: {key} is {tuple(found[key].shape)}, not {shape} as in TF's 1008-class Inception "
                "(torchvision's ImageNet Inception-v3 has 1000 classes and other weights)",
                hint="pass pytorch-fid's pt_inception-2015-12-05-6726825d.pth (`lswap weights fetch inception`)",
            )
    counters = {key.replace(".running_mean", ".num_batches_tracked") for key in keys if key.endswith(".running_mean")}
    extra = sorted(set(found) - set(keys) - set(CLASSIFIER) - counters)
    if extra:
        shown = ", ".join(extra[:6]) + (f" and {len(extra) - 6} more" if len(extra) > 6 else "")
        raise CheckpointError(f"{path} has tensors that {WHAT} does not: {shown}", hint="pass the official file")
    return {key: found[key] for key in keys}


class FIDInceptionConverter(Converter):
    """pytorch-fid's FID Inception-v3 (TF's inception-2015-12-05 graph), a torch state dict read as data."""

    name = "fid-inception"
    description = "FID Inception-v3: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (TF inception-2015-12-05)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        state = file_head(path).state_dict()
        if state is None or LAST_KEY not in state or any(key.startswith("AuxLogits.") for key in state):
            return False  # torchvision's ImageNet Inception carries AuxLogits: not this network
        return "fc.weight" not in state or tuple(state["fc.weight"].shape) == CLASSIFIER["fc.weight"]

    def convert(self, path: Path) -> ConvertedWeights:
        return ConvertedWeights(
            kind=FIDInception.kind,
            name=FIDInception.name,
            config={},
            tensors=fid_tensors(load_state_dict(path, None, WHAT), path),
            provenance={"format": "pytorch-fid FID Inception state dict (tensors up to pool3)"},
        )
