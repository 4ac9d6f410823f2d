"""insightface's iresnet, parameter names as in arcface_torch.

The ArcFace/CosFace recognition backbones of deepinsight/insightface
(recognition/arcface_torch/backbones/iresnet.py), whose ``backbone.pth``
state dicts load into this module: ``conv1``, ``bn1``, ``prelu``,
``layerK.N.{bn1,conv1,bn2,prelu,conv2,bn3,downsample.0,downsample.1}``,
``bn2``, ``fc``, ``features``. Inputs are 112x112 RGB faces in ``[-1, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

IRESNET_LAYERS = {
    "iresnet50": (3, 4, 14, 3),
    "iresnet100": (3, 13, 30, 3),
}


class IBasicBlock(nn.Module):
    """BN -> 3x3 conv -> BN -> PReLU -> 3x3 conv (strided) -> BN, plus a shortcut."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, eps=1e-5)
        self.conv1 = nn.Conv2d(in_channels, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes, eps=1e-5),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out + shortcut


class IResNet(nn.Module):
    """iresnet on ``(N, 3, input_size, input_size)`` faces -> ``(N, embedding_dim)`` features (not normalised).

    :param layers: blocks per stage; `IRESNET_LAYERS` has the published depths.
    :param width: channels of the stem and the first stage (64).
    :param embedding_dim: output length (512).
    :param input_size: side of the input (112); the head flattens a
        ``(input_size / 16)²`` map.
    """

    def __init__(
        self,
        layers: Sequence[int] = IRESNET_LAYERS["iresnet50"],
        width: int = 64,
        embedding_dim: int = 512,
        input_size: int = 112,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"an iresnet has 4 stages of at least one block each, got {tuple(layers)}")
        if input_size % 16:
            raise ValueError(f"the input side must be a multiple of 16, got {input_size}")
        self.input_size = input_size
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=1e-5)
        self.prelu = nn.PReLU(width)
        channels = width
        for stage, blocks in enumerate(layers):
            planes = width * 2**stage
            stage_blocks = []
            for index in range(blocks):
                # Every stage, the first included, starts by halving the resolution.
                stage_blocks.append(IBasicBlock(channels, planes, 2 if index == 0 else 1))
                channels = planes
            self.add_module(f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        side = input_size // 16
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-5)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(channels * side * side, embedding_dim)
        self.features = nn.BatchNorm1d(embedding_dim, eps=1e-5)
        nn.init.ones_(self.features.weight)  # frozen at 1 in training (arcface_torch)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"iresnet takes {self.input_size}x{self.input_size} inputs, got {tuple(x.shape[-2:])}")
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))
