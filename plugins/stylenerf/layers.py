"""Equalised-learning-rate layers of StyleNeRF, after the official ``training/networks.py``.

Every convolution in the FFHQ generator is 1x1, so the layers here are matrix
products on ``(N, P, C)`` point sets (the NeRF MLPs) or ``(N, C, H, W)`` maps
(the upsampler); the arithmetic is StyleGAN2's modulation and demodulation
(Karras et al. 2020, section 2.2) in the official order of operations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_GAIN = math.sqrt(2)
DEMOD_EPS = 1e-8


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def lrelu(x: Tensor, clamp: float | None = None) -> Tensor:
    """Leaky ReLU (slope 0.2) times √2, then the optional clamp (official ``bias_act``)."""
    x = F.leaky_relu(x, 0.2) * LRELU_GAIN
    return x.clamp(-clamp, clamp) if clamp is not None else x


class FullyConnectedLayer(nn.Module):
    """Official ``FullyConnectedLayer``: weights stored divided by ``lr_multiplier``."""

    def __init__(self, in_features: int, out_features: int, *, lr_multiplier: float = 1.0, bias_init: float = 0.0,
                 activation: str = "linear") -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return lrelu(x.matmul(w.t()) + b)


class MappingNetwork(nn.Module):
    """z ``(N, z_dim)`` to W+ ``(N, num_ws, w_dim)`` with the tracked ``w_avg`` for truncation."""

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_layers: int, lr_multiplier: float,
                 w_avg_beta: float | None) -> None:
        super().__init__()
        self.num_ws, self.num_layers, self.w_avg_beta = num_ws, num_layers, w_avg_beta
        features = [z_dim] + [w_dim] * num_layers
        for index in range(num_layers):
            layer = FullyConnectedLayer(features[index], features[index + 1], lr_multiplier=lr_multiplier, activation="lrelu")
            setattr(self, f"fc{index}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None) -> Tensor:
        x = normalize_2nd_moment(z.to(torch.float32))
        for index in range(self.num_layers):
            x = getattr(self, f"fc{index}")(x)
        if self.training and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x = torch.cat([self.w_avg.lerp(x[:, :cutoff], truncation_psi), x[:, cutoff:]], dim=1)
        return x


def modulated_weight(weight: Tensor, styles: Tensor, demodulate: bool) -> Tensor:
    """Per-sample 1x1 weights ``(N, out, in)`` from ``weight (out, in)`` and ``styles (N, in)``."""
    w = weight.unsqueeze(0) * styles.unsqueeze(1)
    if demodulate:
        w = w * (w.square().sum(dim=2, keepdim=True) + DEMOD_EPS).rsqrt()
    return w


class ModulatedPointLayer(nn.Module):
    """A modulated 1x1 layer on point sets ``(N, P, C)``: the official ``Style2Layer`` (demodulated,
    bias, leaky ReLU) or, with ``demodulate=False``, a NeRF ``ToRGBLayer`` (style gain 1/√C, linear)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, *, demodulate: bool) -> None:
        super().__init__()
        self.demodulate = demodulate
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.style_gain = 1.0 if demodulate else 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)
        if self.style_gain != 1:
            styles = styles * self.style_gain
        weight = modulated_weight(self.weight[:, :, 0, 0], styles, self.demodulate)
        x = torch.bmm(x, weight.transpose(1, 2)) + self.bias
        return lrelu(x) if self.demodulate else x


class PlainPointLayer(nn.Module):
    """An unmodulated layer on point sets with a 2-D weight (the background MLP's layers)."""

    def __init__(self, in_channels: int, out_channels: int, *, relu: bool) -> None:
        super().__init__()
        self.relu = relu
        bound = 1 / math.sqrt(in_channels)  # torch.nn.Linear's initialisation, as the official layers use
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight, self.bias)
        return F.relu(x) if self.relu else x


class Conv1x1(nn.Module):
    """Official ``Conv2dLayer`` with a 1x1 kernel (weight gain 1/√in), on ``(..., C)`` or ``(N, C, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, *, activation: str = "linear") -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, *, channels_last: bool = False) -> Tensor:
        w = self.weight[:, :, 0, 0] * self.weight_gain
        if channels_last:
            x = F.linear(x, w, self.bias)
        else:
            x = torch.einsum("oc,nchw->nohw", w, x) + self.bias[:, None, None]
        return lrelu(x) if self.activation == "lrelu" else x
