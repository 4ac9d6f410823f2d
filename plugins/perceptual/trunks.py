"""The convolutional trunks LPIPS reads: the ``features`` part of torchvision's AlexNet and VGG16.

Built as ``nn.Sequential`` with torchvision's layer indices, so the official
ImageNet files (``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``) load
under their own names, ``features.N.weight`` / ``features.N.bias``.
References: Krizhevsky 2014 ("One weird trick", the single-tower AlexNet
torchvision ships), Simonyan & Zisserman 2015 (VGG16, configuration D).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class TrunkSpec:
    """One trunk: its layers, where LPIPS taps it and the smallest image it takes."""

    name: str
    layers: tuple[tuple, ...]  # ("conv", in, out, kernel, stride, padding) | ("relu",) | ("pool", kernel, stride)
    taps: tuple[int, ...]  # indices of the ReLUs whose outputs LPIPS compares (relu1 ... relu5)
    min_size: int  # the smallest height/width for which every tapped layer is at least 1x1

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of each tapped activation."""
        return tuple(self.out_channels(tap) for tap in self.taps)

    def out_channels(self, index: int) -> int:
        convs = [layer for layer in self.layers[: index + 1] if layer[0] == "conv"]
        return convs[-1][2]

    def conv_indices(self) -> tuple[int, ...]:
        return tuple(i for i, layer in enumerate(self.layers) if layer[0] == "conv")


def _vgg16_layers() -> tuple[tuple, ...]:
    layers: list[tuple] = []
    channels = 3
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):  # configuration D
        for _ in range(convs):
            layers += [("conv", channels, width, 3, 1, 1), ("relu",)]
            channels = width
        layers.append(("pool", 2, 2))
    return tuple(layers)


ALEXNET = TrunkSpec(
    name="alex",
    layers=(
        ("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2),
        ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2),
        ("conv", 192, 384, 3, 1, 1), ("relu",),
        ("conv", 384, 256, 3, 1, 1), ("relu",),
        ("conv", 256, 256, 3, 1, 1), ("relu",), ("pool", 3, 2),
    ),
    taps=(1, 4, 7, 9, 11),
    min_size=31,  # 31 -> 7 (conv1) -> 3 (pool) -> 1 (pool): the last taps are 1x1
)
VGG16 = TrunkSpec(name="vgg", layers=_vgg16_layers(), taps=(3, 8, 15, 22, 29), min_size=16)  # four 2x2 pools before relu5_3
TRUNKS: dict[str, TrunkSpec] = {"alex": ALEXNET, "vgg": VGG16}


def build_features(spec: TrunkSpec) -> nn.Sequential:
    """The trunk up to its last tap (the pool after it is never used), in torchvision's indices."""
    modules: list[nn.Module] = []
    for layer in spec.layers[: spec.taps[-1] + 1]:
        if layer[0] == "conv":
            _, cin, cout, kernel, stride, padding = layer
            modules.append(nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding))
        elif layer[0] == "relu":
            modules.append(nn.ReLU())  # not in place: the tapped activation must survive the next layer
        else:
            modules.append(nn.MaxPool2d(kernel_size=layer[1], stride=layer[2]))
    return nn.Sequential(*modules)


def tapped_activations(features: nn.Sequential, taps: tuple[int, ...], x: torch.Tensor) -> list[torch.Tensor]:
    """Run ``features`` and return the activations at ``taps``: (N, C_k, H_k, W_k) each."""
    outputs = []
    for index, layer in enumerate(features):
        x = layer(x)
        if index in taps:
            outputs.append(x)
    return outputs


def init_trunk_(features: nn.Sequential, rng: torch.Generator) -> None:
    """A seeded random initialisation that keeps activations of order one (He-normal weights, small biases)."""
    with torch.no_grad():
        for layer in features:
            if isinstance(layer, nn.Conv2d):
                fan_in = layer.weight[0].numel()
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=rng) * (2.0 / fan_in) ** 0.5)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=rng) * 0.01)
