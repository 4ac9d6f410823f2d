"""Parameter containers named after face-api's weight paths.

Every face-api tensor path (``dense0/conv1/depthwise_filter``) becomes the
``state_dict`` key of the same name with dots (``dense0.conv1.depthwise_filter``),
so the converter maps official names mechanically; tensors are kept in
PyTorch layout (convolutions ``(out, in, k, k)``, depthwise ``(C, 1, k, k)``,
fully connected ``(out, in)``).

Fresh modules draw their weights from the global RNG (He-style scaling), so a
seed gives the same random network; real weights come from a converted export.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .ops import conv2d_same, separable_conv_same


def _kernel(out_channels: int, in_channels: int, size: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(out_channels, in_channels, size, size) * math.sqrt(2 / (in_channels * size * size)))


class ConvParams(nn.Module):
    """``filters`` ``(out, in, k, k)`` and ``bias`` ``(out,)`` (face-api's ``ConvParams``)."""

    def __init__(self, in_channels: int, out_channels: int, size: int) -> None:
        super().__init__()
        self.filters = _kernel(out_channels, in_channels, size)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, stride: int = 1) -> Tensor:
        """TF ``same`` convolution plus bias."""
        return conv2d_same(x, self.filters, self.bias, stride)

    def valid(self, x: Tensor, stride: int = 1) -> Tensor:
        """TF ``valid`` convolution plus bias."""
        return F.conv2d(x, self.filters, self.bias, stride=stride)


class SeparableConvParams(nn.Module):
    """``depthwise_filter`` ``(C, 1, 3, 3)``, ``pointwise_filter`` ``(out, C, 1, 1)`` and ``bias``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise_filter = _kernel(in_channels, 1, 3)
        self.pointwise_filter = _kernel(out_channels, in_channels, 1)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, stride: int = 1) -> Tensor:
        """``tf.separableConv2d(x, ..., stride, 'same') + bias``."""
        return separable_conv_same(x, self.depthwise_filter, self.pointwise_filter, self.bias, stride)


class FCParams(nn.Module):
    """``weights`` ``(out, in)`` and ``bias`` ``(out,)`` of a fully connected layer."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(out_features, in_features) / math.sqrt(in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weights, self.bias)
