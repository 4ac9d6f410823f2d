"""Encoder4Editing: an IR-SE-50 body, a small feature pyramid and one style head per W+ row.

Tov et al., "Designing an Encoder for StyleGAN Image Manipulation" (SIGGRAPH
2021); reference: omertov/encoder4editing ``models/encoders/psp_encoders.py``
(``Encoder4Editing``, ``GradualStyleBlock``) and ``helpers.py``. Parameter
names are the official ones (``input_layer.*``, ``body.N.*``,
``styles.N.convs.N.*``, ``styles.N.linear.*``, ``latlayer1/2.*``), so the
official ``encoder.*`` tensors load unchanged.

The forward pass is the official one at its inference stage, where every
delta is applied: ``w0 = styles[0](c3)`` is repeated over all rows and row
``i`` adds ``styles[i]`` of ``c3`` (rows 1-2), of ``p2`` (rows 3-6) or of
``p1`` (rows 7 and up).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lswap_plugins.backbones.irse import IRSEBlock

from .config import E4EConfig

COARSE_ROWS = 3  # rows 0-2 read c3 (psp_encoders.py: coarse_ind)
MIDDLE_ROWS = 7  # rows 3-6 read p2, the rest p1 (middle_ind)


class EqualLinear(nn.Module):
    """rosinality's equalised linear layer with ``lr_mul`` 1: ``y = x (W / sqrt(in))ᵀ + b``.

    The weight is stored unscaled (N(0, 1) at initialisation) and scaled at run time.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = 1 / math.sqrt(in_features)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class GradualStyleBlock(nn.Module):
    """A feature map ``(N, in, s, s)`` to one style vector ``(N, out)``.

    ``log2(s)`` stride-2 3x3 convolutions, each followed by LeakyReLU with
    torch's default slope 0.01 (the official ``nn.LeakyReLU()``), take the map
    to 1x1; an `EqualLinear` follows. The activations sit between the
    convolutions in one ``Sequential``, so the convolutions are ``convs.0``,
    ``convs.2``...
    """

    def __init__(self, in_channels: int, out_channels: int, spatial: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index in range(int(math.log2(spatial))):
            layers += [
                nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, 3, stride=2, padding=1),
                nn.LeakyReLU(),
            ]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.convs(x).flatten(1))


def upsample_add(top: Tensor, lateral: Tensor) -> Tensor:
    """The FPN merge: ``top`` resized bilinearly to ``lateral``'s size (``align_corners=True``,
    as the official ``_upsample_add``), plus ``lateral``."""
    return F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral


class Encoder4Editing(nn.Module):
    """Images ``(N, 3, input_size, input_size)`` in ``[-1, 1]`` to W+ offsets ``(N, style_count, style_dim)``.

    The offsets are relative to the average code: the inverter adds its ``latent_avg``.
    """

    def __init__(self, config: E4EConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.input_layer = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.PReLU(width)
        )
        units: list[nn.Module] = []
        channels = width
        self.tap_units: list[int] = []  # the last unit of stages 2, 3 and 4: c1, c2, c3 (units 6, 20, 23 in IR-SE-50)
        for stage, count in enumerate(config.blocks):
            depth = width * 2**stage
            for index in range(count):
                units.append(IRSEBlock(channels, depth, 2 if index == 0 else 1))  # each stage halves the size first
                channels = depth
            if stage > 0:
                self.tap_units.append(len(units) - 1)
        self.body = nn.Sequential(*units)
        fpn, side = config.fpn_channels, config.input_size // 16  # c3 is input_size/16 wide, p2 twice, p1 four times
        self.styles = nn.ModuleList(
            GradualStyleBlock(
                fpn, config.style_dim, side if i < COARSE_ROWS else side * 2 if i < MIDDLE_ROWS else side * 4
            )
            for i in range(config.style_count)
        )
        self.latlayer1 = nn.Conv2d(width * 4, fpn, 1)  # c2 -> p2's width
        self.latlayer2 = nn.Conv2d(width * 2, fpn, 1)  # c1 -> p1's width

    def taps(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The body's outputs ``c1``, ``c2``, ``c3`` (input_size/4, /8 and /16 wide)."""
        x = self.input_layer(x)
        taps = []
        for index, unit in enumerate(self.body):
            x = unit(x)
            if index in self.tap_units:
                taps.append(x)
        c1, c2, c3 = taps
        return c1, c2, c3

    def forward(self, x: Tensor) -> Tensor:
        size = self.config.input_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, size, size):
            raise ValueError(f"the e4e encoder takes (N, 3, {size}, {size}) images, got {tuple(x.shape)}")
        c1, c2, c3 = self.taps(x)
        w0 = self.styles[0](c3)
        rows = [w0]
        features = c3
        for i in range(1, self.config.style_count):
            if i == COARSE_ROWS:
                p2 = upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == MIDDLE_ROWS:
                features = upsample_add(p2, self.latlayer2(c1))
            rows.append(w0 + self.styles[i](features))
        return torch.stack(rows, dim=1)
