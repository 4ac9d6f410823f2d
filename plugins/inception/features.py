"""FID/KID features of images as lswap's generators give them, and the loader of the official weights.

pytorch-fid 0.3.0 (``InceptionV3([3])``, its defaults ``resize_input=True``, ``normalize_input=True``)
takes images in [0, 1], resizes them to 299x299 (bilinear, ``align_corners=False``, no antialiasing)
and then maps them to [-1, 1]. lswap's images are already in [-1, 1]; resizing is linear and keeps
constants, so resizing them directly gives the same network input up to float rounding.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lswap_core.assets import resolve_weights
from lswap_core.checkpoints import load_state_strict, read_export
from lswap_core.errors import CheckpointError, InputError

from .network import BatchNorm, InceptionV3FID

INPUT_SIZE = 299  # TF's graph and pytorch-fid resize every image to 299x299
EXPORT_KIND = "metric"  # an evaluation network: no plugin component kind
EXPORT_NAME = "fid-inception"
DEFAULT_ASSET = "inception"  # `lswap weights fetch inception`


class FIDInception(InceptionV3FID):
    """The FID Inception-v3 with its input convention: `features` of (N, 3, H, W) images in [-1, 1].

    Built with seeded random weights (He-normal convolutions, identity batch norm: activations stay
    of order 1), for tests and runs without downloads; `load_fid_inception` gives the official ones.

    :param init_seed: seed of the random weights; the global RNG is not touched.
    """

    def __init__(self, *, init_seed: int = 0) -> None:
        with torch.device("meta"):  # no default initialisation from the global RNG: it is overwritten below
            super().__init__()
        self.to_empty(device="cpu")
        rng = torch.Generator().manual_seed(init_seed)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    fan_in = module.weight[0].numel()
                    module.weight.copy_(torch.randn(module.weight.shape, generator=rng) * (2.0 / fan_in) ** 0.5)
                elif isinstance(module, BatchNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()
                    module.running_mean.zero_()
                    module.running_var.fill_(1.0)
        self.eval().requires_grad_(False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """pool3 features: images (N, 3, H, W) in [-1, 1], any size -> (N, 2048) float32 (`network.FEATURES`).

        Values outside [-1, 1] are used as given; pytorch-fid does not clip either.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(
                f"FID features take (N, 3, H, W) RGB images, got {tuple(images.shape)}", hint="pass RGB batches"
            )
        x = images.to(self.Conv2d_1a_3x3.conv.weight.dtype)
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return self(x).float()


def load_fid_inception(weights: str | Path | None = None, *, device: str | torch.device = "cpu") -> FIDInception:
    """The FID Inception with official weights, frozen: an export path, an asset name, or by default the
    ``inception`` asset (pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``, converted when fetched).

    :raises CheckpointError: when the weights are not fetched (naming ``lswap weights fetch inception``),
        or the export holds another network or other tensors.
    """
    source = weights if weights is not None else DEFAULT_ASSET
    path = resolve_weights(source, EXPORT_KIND, EXPORT_NAME)
    export = read_export(path)
    if (export.kind, export.name) != (EXPORT_KIND, EXPORT_NAME):
        raise CheckpointError(
            f"{path} holds the {export.kind.replace('_', ' ')} {export.name!r}, not the FID Inception network",
            hint=f"pass an export of {EXPORT_NAME!r} (`lswap weights fetch {DEFAULT_ASSET}` makes one)",
        )
    model = FIDInception()
    load_state_strict(model, export.tensors, source=str(path))
    return model.to(device)
