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

from lswap_core.errors import InputError
from lswap_core.interfaces import FeatureNetwork

from .network import FEATURES, BatchNorm, InceptionV3FID

INPUT_SIZE = 299  # TF's graph and pytorch-fid resize every image to 299x299
DEFAULT_ASSET = "inception"  # `lswap weights fetch inception`


class FIDInception(FeatureNetwork, InceptionV3FID):
    """The FID Inception-v3 as a feature network: `features` of (N, 3, H, W) images in [-1, 1].

    Built without weights it takes random values (He-normal convolutions, identity batch norm:
    activations stay of order 1), drawn from the registry's seed, for tests and runs without
    downloads; `load_fid_inception` (or ``load_feature_network("inception", weights="inception")``)
    gives the official ones.
    """

    name = "inception"
    description = "FID Inception-v3 (TF inception-2015-12-05 as pytorch-fid ports it): pool3 features for FID/KID"

    def __init__(self, config: object = None) -> None:
        super().__init__(config)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    fan_in = module.weight[0].numel()
                    module.weight.copy_(torch.randn(module.weight.shape) * (2.0 / fan_in) ** 0.5)
                elif isinstance(module, BatchNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()
                    module.running_mean.zero_()
                    module.running_var.fill_(1.0)
        self.eval().requires_grad_(False)

    @property
    def feature_dim(self) -> int:
        return FEATURES

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """pool3 features: images (N, 3, H, W) in [-1, 1], any size -> (N, 2048) float32.

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
    from lswap_core.registry import load_feature_network

    model = load_feature_network(FIDInception.name, weights if weights is not None else DEFAULT_ASSET, device=device)
    assert isinstance(model, FIDInception)
    return model.requires_grad_(False)
