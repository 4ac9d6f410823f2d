"""StyleNeRF's 2D upsampler: 1x1 StyleGAN2 blocks from the NeRF's feature map to the output.

After the official ``Upsampler`` (``training/stylenerf.py``) and ``SynthesisBlock`` /
``SynthesisLayer`` / ``ToRGBLayer`` (``training/networks.py``) with ``kernel_size=1``,
``upsample_mode='nn_cat'``, no noise and magnitude-normalised inputs. Each block doubles
the resolution in its first layer: the nearest-neighbour copy plus a learned adapter
over the copy and the "nn_cat" sub-pixels (averages of neighbour pairs), blurred by the
[1, 3, 3, 1] filter; the skip image is upsampled with the same filter and summed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lswap_core.ops.upfirdn2d import filter2d, setup_filter, upsample2d

from .config import StyleNeRFConfig
from .layers import Conv1x1, FullyConnectedLayer, lrelu, modulated_weight

RESAMPLE_FILTER = (1, 3, 3, 1)


def nn_cat_subpixels(x: Tensor) -> Tensor:
    """``(N, C, H, W) -> (N, C, 2H, 2W)``: each sub-pixel the mean of the two neighbours beside it
    (top-left (left+up)/2, top-right (up+right)/2, bottom-left (left+down)/2, bottom-right
    (right+down)/2), zero beyond the border."""
    padded = F.pad(x, (1, 1, 1, 1))
    left, up = padded[..., 1:-1, :-2], padded[..., :-2, 1:-1]
    down, right = padded[..., 2:, 1:-1], padded[..., 1:-1, 2:]
    quads = torch.stack([left + up, up + right, left + down, right + down], dim=2) / 2
    return F.pixel_shuffle(quads.flatten(1, 2), 2)


def modulated_conv(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool) -> Tensor:
    return torch.einsum("noc,nchw->nohw", modulated_weight(weight[:, :, 0, 0], styles, demodulate), x)


class SynthesisLayer(nn.Module):
    """A modulated, demodulated 1x1 layer; ``up`` doubles the resolution the nn_cat way."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, config: StyleNeRFConfig, *, up: bool) -> None:
        super().__init__()
        self.up, self.clamp = up, config.conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        if config.magnitude_ema:
            self.register_buffer("w_avg", torch.ones([]))
            self.magnitude_ema_beta = config.magnitude_ema_beta
        if up:
            self.adapter = nn.Sequential(
                Conv1x1(out_channels * 2, out_channels // 4, activation="lrelu"), Conv1x1(out_channels // 4, out_channels)
            )
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_FILTER), persistent=False)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        if hasattr(self, "w_avg"):
            if self.training:  # official magnitude EMA of the input
                self.w_avg.copy_(x.detach().square().mean().lerp(self.w_avg, self.magnitude_ema_beta))
            x = x * self.w_avg.rsqrt()
        x = modulated_conv(x, self.weight, self.affine(w), demodulate=True)
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest") + self.adapter[1](self._adapter_hidden(x))
            x = filter2d(x, self.resample_filter)
        return lrelu(x + self.bias[:, None, None], self.clamp)


    def _adapter_hidden(self, x: Tensor) -> Tensor:
        """The adapter's first layer on ``cat([nearest(x), nn_cat(x)])``, computed at the low resolution:
        both upsamplings are linear and per channel, so they commute with the 1x1 weights, and the
        layer's out/4 channels are upsampled instead of its 2·out inputs."""
        first: Conv1x1 = self.adapter[0]  # type: ignore[assignment]
        weight = first.weight[:, :, 0, 0] * first.weight_gain
        channels = x.shape[1]
        stacked = torch.cat([weight[:, :channels], weight[:, channels:]])  # one product for both halves
        on_nearest, on_subpixels = torch.einsum("oc,nchw->nohw", stacked, x).chunk(2, dim=1)
        hidden = F.interpolate(on_nearest, scale_factor=2.0, mode="nearest") + nn_cat_subpixels(on_subpixels)
        return lrelu(hidden + first.bias[:, None, None])


class ToRGBLayer(nn.Module):
    """Modulated 1x1 projection to RGB without demodulation (style gain 1/√C)."""

    def __init__(self, in_channels: int, w_dim: int, config: StyleNeRFConfig) -> None:
        super().__init__()
        self.clamp = config.conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(3, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros([3]))
        self.weight_gain = 1 / in_channels**0.5

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False) + self.bias[:, None, None]
        return x.clamp(-self.clamp, self.clamp) if self.clamp is not None else x


class SynthesisBlock(nn.Module):
    """``conv0`` (up), ``conv1`` and ``torgb``: three W+ rows, the last shared with the next block's conv0."""

    num_conv = 2

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, config: StyleNeRFConfig) -> None:
        super().__init__()
        self.resolution = resolution
        self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, config, up=True)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, config, up=False)
        self.torgb = ToRGBLayer(out_channels, w_dim, config)
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_FILTER), persistent=False)

    def forward(self, x: Tensor, img: Tensor, ws: Tensor) -> tuple[Tensor, Tensor]:
        """``ws: (N, 3, w_dim)``; ``img`` the skip image at half resolution."""
        x = self.conv0(x, ws[:, 0])
        x = self.conv1(x, ws[:, 1])
        img = upsample2d(img, self.resample_filter) + self.torgb(x, ws[:, 2])
        return x, img
