"""face-api's face recognition net: dlib's ResNet-29 metric network, 150² in, 128-d out.

A port of ``src/faceRecognitionNet/`` in vladmandic/face-api (itself a port of
dlib's ``dlib_face_recognition_resnet_model_v1``): a 7×7/2 convolution, a 3×3/2
max pool, residual stages of 32, 64, 128 and 256 channels, global average
pooling and a 256 → 128 projection. Every convolution is followed by a
per-channel affine "scale" layer (dlib's ``affine`` layer, the folded batch norm).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ConvParams
from .ops import to_face_api_pixels

INPUT_SIZE = 150


class ScaleParams(nn.Module):
    """Per-channel ``weights`` and ``biases``: ``x * weights + biases``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.ones(channels))
        self.biases = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weights[:, None, None] + self.biases[:, None, None]


class ConvLayer(nn.Module):
    """Convolution + bias + scale (``src/faceRecognitionNet/convLayer.ts``)."""

    def __init__(self, in_channels: int, out_channels: int, size: int) -> None:
        super().__init__()
        self.conv = ConvParams(in_channels, out_channels, size)
        self.scale = ScaleParams(out_channels)

    def forward(self, x: Tensor, *, stride: int = 1, relu: bool = True, valid: bool = False) -> Tensor:
        out = self.conv.valid(x, stride) if valid else self.conv(x, stride)
        out = self.scale(out)
        return F.relu(out) if relu else out


class ResidualLayer(nn.Module):
    """Two 3×3 conv layers with an identity (or pooled, zero-padded) shortcut.

    The downsampling variant (``residualDown``) convolves with stride 2
    without padding and adds a 2×2 average pool of the input, padded with
    zero channels (and a zero row and column when the sizes differ), as in
    ``src/faceRecognitionNet/residualLayer.ts``.
    """

    def __init__(self, in_channels: int, out_channels: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = ConvLayer(in_channels, out_channels, 3)
        self.conv2 = ConvLayer(out_channels, out_channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        if not self.down:
            out = self.conv2(self.conv1(x), relu=False)
            return F.relu(out + x)
        out = self.conv2(self.conv1(x, stride=2, valid=True), relu=False)
        pooled = F.avg_pool2d(x, 2, 2)
        if pooled.shape[-2:] != out.shape[-2:]:
            out = F.pad(out, (0, 1, 0, 1))  # zeros appended below and right, as the original does
        if pooled.shape[1] != out.shape[1]:
            pooled = F.pad(pooled, (0, 0, 0, 0, 0, out.shape[1] - pooled.shape[1]))
        return F.relu(out + pooled)


# (name, input channels, output channels, downsamples) in the order of the original forward pass
STAGES = (
    ("conv32_1", 32, 32, False),
    ("conv32_2", 32, 32, False),
    ("conv32_3", 32, 32, False),
    ("conv64_down", 32, 64, True),
    ("conv64_1", 64, 64, False),
    ("conv64_2", 64, 64, False),
    ("conv64_3", 64, 64, False),
    ("conv128_down", 64, 128, True),
    ("conv128_1", 128, 128, False),
    ("conv128_2", 128, 128, False),
    ("conv256_down", 128, 256, True),
    ("conv256_1", 256, 256, False),
    ("conv256_2", 256, 256, False),
    ("conv256_down_out", 256, 256, True),
)


class FaceRecognitionNet(nn.Module):
    """The 128-d descriptor network; ``forward`` takes ``(N, 3, 150, 150)`` in ``[-1, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv32_down = ConvLayer(3, 32, 7)
        for name, in_channels, out_channels, down in STAGES:
            self.add_module(name, ResidualLayer(in_channels, out_channels, down))
        self.fc = nn.Parameter(torch.randn(128, 256) / math.sqrt(256))  # (out, in)

    def forward(self, images: Tensor) -> Tensor:
        """Descriptors ``(N, 128)``, not normalised (face-api compares them by Euclidean distance, 0.6 apart).

        :param images: ``(N, 3, 150, 150)`` RGB in ``[-1, 1]``.
        """
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"the recognition net takes 150x150 crops, got {tuple(images.shape[-2:])}")
        x = to_face_api_pixels(images)
        x = self.conv32_down(x, stride=2, valid=True)
        x = F.max_pool2d(x, 3, 2)
        for name, *_ in STAGES:
            x = getattr(self, name)(x)
        return F.linear(x.mean(dim=(2, 3)), self.fc)
