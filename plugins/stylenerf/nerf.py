"""StyleNeRF's two radiance fields (official ``NeRFBlock``, ``training/stylenerf.py``).

The foreground MLP is style-modulated: ``fc_in`` and the hidden blocks are demodulated
1x1 layers with leaky ReLU, each driven by one W+ row, then ``sigma_out`` and
``feat_out`` (modulated, not demodulated) give the density and a feature vector whose
first three channels ``to_rgb`` turns into colour. The background MLP (NeRF++'s inverse
sphere, Zhang et al. 2020) is a plain ReLU MLP on 4-D points plus the background latent.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .layers import Conv1x1, ModulatedPointLayer, PlainPointLayer


def positional_encoding(p: Tensor, octaves: int) -> Tensor:
    """``(..., D) -> (..., 2·octaves·D)``: per octave i, sin(2^i π p) then cos(2^i π p)."""
    parts = []
    for i in range(octaves):
        scaled = (2**i) * math.pi * p
        parts += [torch.sin(scaled), torch.cos(scaled)]
    return torch.cat(parts, dim=-1)


class ForegroundNeRF(nn.Module):
    """Points ``(N, P, 3)`` and W+ rows ``(N, num_ws, w_dim)`` to features ``(N, P, 3 + C)`` and raw density ``(N, P)``."""

    def __init__(self, w_dim: int, hidden: int, n_blocks: int, feat_dim: int, octaves: int) -> None:
        super().__init__()
        self.octaves = octaves
        self.fc_in = ModulatedPointLayer(3 * 2 * octaves, hidden, w_dim, demodulate=True)
        self.blocks = nn.ModuleList(ModulatedPointLayer(hidden, hidden, w_dim, demodulate=True) for _ in range(n_blocks - 1))
        self.sigma_out = ModulatedPointLayer(hidden, 1, w_dim, demodulate=False)
        self.feat_out = ModulatedPointLayer(hidden, feat_dim, w_dim, demodulate=False)
        self.to_rgb = Conv1x1(feat_dim, 3)
        self.num_ws = n_blocks + 2  # fc_in, the blocks, sigma_out, feat_out

    def forward(self, points: Tensor, ws: Tensor) -> tuple[Tensor, Tensor]:
        x = self.fc_in(positional_encoding(points, self.octaves), ws[:, 0])
        for index, block in enumerate(self.blocks):
            x = block(x, ws[:, index + 1])
        sigma = self.sigma_out(x, ws[:, len(self.blocks) + 1])[..., 0]
        feat = self.feat_out(x, ws[:, len(self.blocks) + 2])
        return torch.cat([self.to_rgb(feat, channels_last=True), feat], dim=-1), sigma


class BackgroundNeRF(nn.Module):
    """Inverse-sphere points ``(N, P, 4)`` and latents ``(N, z_dim_bg)`` to features and raw density."""

    def __init__(self, z_dim: int, hidden: int, n_blocks: int, feat_dim: int, octaves: int) -> None:
        super().__init__()
        self.octaves = octaves
        self.fc_in = PlainPointLayer(4 * 2 * octaves + z_dim, hidden, relu=True)
        self.blocks = nn.ModuleList(PlainPointLayer(hidden, hidden, relu=True) for _ in range(n_blocks - 1))
        self.sigma_out = PlainPointLayer(hidden, 1, relu=False)
        self.feat_out = PlainPointLayer(hidden, feat_dim, relu=False)
        self.to_rgb = Conv1x1(feat_dim, 3)

    def forward(self, points: Tensor, latent: Tensor) -> tuple[Tensor, Tensor]:
        encoded = positional_encoding(points, self.octaves)
        x = torch.cat([encoded, latent[:, None, :].expand(-1, encoded.shape[1], -1)], dim=-1)  # latent after the encoding
        x = self.fc_in(x)
        for block in self.blocks:
            x = block(x)
        feat = self.feat_out(x)
        return torch.cat([self.to_rgb(feat, channels_last=True), feat], dim=-1), self.sigma_out(x)[..., 0]
