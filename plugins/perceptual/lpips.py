"""LPIPS v0.1 (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR 2018; the ``lpips`` package 0.1.4), with AlexNet or VGG16 trunks.

For two images x0, x1 in [-1, 1]:

    d(x0, x1) = sum_k mean_hw( w_k . (n(f_k(s(x0))) - n(f_k(s(x1))))^2 )

- s: the ScalingLayer, (x - shift) / scale per channel; shift and scale are
  ImageNet's mean and std carried over to [-1, 1] (lpips.py ``ScalingLayer``).
- f_k: the trunk's k-th tapped ReLU (relu1 ... relu5; `trunks.py`).
- n: unit length over channels, f / (sqrt(sum_c f^2) + 1e-10) (lpips ``normalize_tensor``).
- w_k: the 1x1 "lin" head of layer k, no bias (``lin{k}.model.1.weight`` in the
  lpips files), applied to the squared difference; then a spatial mean.

The result has lpips' shape, (N, 1, 1, 1), so ``.squeeze()`` and ``.mean()``
work as on lpips' output.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lswap_core.errors import InputError

from .exports import load_into, read_perceptual_export
from .trunks import TRUNKS, build_features, init_trunk_, tapped_activations

# lpips.py ScalingLayer: ImageNet mean/std, (m - 0.5) / 0.5 and s / 0.5, rounded as the package rounds them.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10  # lpips normalize_tensor: added to the norm, outside the square root
DEFAULT_ASSETS = {"alex": "lpips", "vgg": "lpips-vgg"}  # `lswap weights fetch NAME` for each trunk


def export_name(net: str) -> str:
    """The export name of the LPIPS network with trunk ``net``."""
    return f"lpips-{net}"


def normalize_channels(features: torch.Tensor) -> torch.Tensor:
    """Unit length over channels: (N, C, H, W) -> (N, C, H, W)."""
    norm = features.square().sum(dim=1, keepdim=True).sqrt()
    return features / (norm + EPS)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance with an AlexNet (``net="alex"``, PTI's choice) or VGG16 trunk.

    :param net: ``"alex"`` or ``"vgg"``.
    :param pretrained: load the fetched official weights (`load_lpips` with the
        asset of ``net``); ``False`` builds a randomly initialised network from
        ``init_seed`` (no download: tests and the ``tiny`` presets).
    :param init_seed: seed of the random initialisation; the global RNG is not touched.

    State dict: the trunk under torchvision's names ``features.N.weight|bias``
    and the heads as ``lin{k}.weight`` of shape (1, C_k, 1, 1).
    """

    def __init__(self, net: str = "alex", *, pretrained: bool = True, init_seed: int = 0) -> None:
        super().__init__()
        if net not in TRUNKS:
            raise InputError(f"unknown LPIPS trunk {net!r}", hint=f"choose one of {', '.join(TRUNKS)}")
        self.net = net
        self.spec = TRUNKS[net]
        with torch.device("meta"):  # no default initialisation: it would draw from the global RNG, and be overwritten
            self.features = build_features(self.spec)
            for k, channels in enumerate(self.spec.channels):
                self.add_module(f"lin{k}", nn.Conv2d(channels, 1, 1, bias=False))
        self.to_empty(device="cpu")
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            source = DEFAULT_ASSETS[net]
            load_into(self, read_perceptual_export(source, export_name(net)), source)
        else:
            self._init_random(init_seed)
        self.eval().requires_grad_(False)

    def _init_random(self, seed: int) -> None:
        rng = torch.Generator().manual_seed(seed)
        init_trunk_(self.features, rng)
        with torch.no_grad():
            for lin in self.lins:
                # The trained heads are non-negative (lpips clamps them while training): keep that, so the
                # distance stays a sum of squares.
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=rng).abs() * 0.1)

    @property
    def lins(self) -> list[nn.Conv2d]:
        return [getattr(self, f"lin{k}") for k in range(len(self.spec.taps))]

    def _check(self, in0: torch.Tensor, in1: torch.Tensor) -> None:
        if in0.ndim != 4 or in0.shape[1] != 3 or in0.shape != in1.shape:
            raise InputError(
                f"LPIPS compares two image batches of one shape (N, 3, H, W), got {tuple(in0.shape)} and {tuple(in1.shape)}",
                hint="resize or crop them to the same size",
            )
        if min(in0.shape[2:]) < self.spec.min_size:
            raise InputError(
                f"LPIPS-{self.net} needs images of at least {self.spec.min_size}x{self.spec.min_size}, got {tuple(in0.shape[2:])}",
                hint="upsample the images first",
            )

    def layer_distances(self, in0: torch.Tensor, in1: torch.Tensor, *, normalize: bool = False) -> list[torch.Tensor]:
        """The per-layer terms, (N, 1, 1, 1) each; their sum is the distance (lpips' ``retPerLayer``)."""
        self._check(in0, in1)
        if normalize:  # [0, 1] inputs, mapped to [-1, 1] as lpips does
            in0, in1 = 2 * in0 - 1, 2 * in1 - 1
        both = torch.cat([in0, in1]).to(self.shift.dtype)
        feats = tapped_activations(self.features, self.spec.taps, (both - self.shift) / self.scale)
        terms = []
        for lin, feat in zip(self.lins, feats):
            f0, f1 = normalize_channels(feat).chunk(2)
            terms.append(lin((f0 - f1).square()).mean(dim=(2, 3), keepdim=True))
        return terms

    def forward(self, in0: torch.Tensor, in1: torch.Tensor, *, normalize: bool = False) -> torch.Tensor:
        """The LPIPS distance of each pair: in0, in1 (N, 3, H, W) in [-1, 1] (``normalize=True``: in [0, 1]) -> (N, 1, 1, 1)."""
        terms = self.layer_distances(in0, in1, normalize=normalize)
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total


def load_lpips(net: str = "alex", weights: str | Path | None = None, *, device: str | torch.device = "cpu") -> LPIPS:
    """LPIPS with official weights: an export path, an asset name, or by default the asset of ``net``
    (``lswap weights fetch lpips`` for AlexNet, ``lpips-vgg`` for VGG16)."""
    if net not in TRUNKS:
        raise InputError(f"unknown LPIPS trunk {net!r}", hint=f"choose one of {', '.join(TRUNKS)}")
    source = weights if weights is not None else DEFAULT_ASSETS[net]
    model = LPIPS(net, pretrained=False)
    load_into(model, read_perceptual_export(source, export_name(net)), source)
    return model.to(device)
