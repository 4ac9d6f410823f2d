"""ResNet with bottleneck blocks, parameter names as in torchvision.

He et al., "Deep Residual Learning for Image Recognition" (2016), in the
"v1.5" form torchvision uses: a bottleneck block downsamples in its 3x3
convolution (``conv2``), not in its first 1x1 convolution. Reference:
torchvision/models/resnet.py, copied verbatim by Deep3DFaceRecon_pytorch
(models/networks.py); official checkpoints of both load into this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

RESNET50_LAYERS = (3, 4, 6, 3)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 convolutions, batch-normed, plus a shortcut.

    :param in_channels: channels of the input.
    :param width: channels inside the block; the output has ``4 * width``.
    :param stride: stride of the 3x3 convolution (2 halves the resolution).
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """ResNet feature extractor with an optional final linear layer.

    :param layers: bottleneck blocks per stage; ``(3, 4, 6, 3)`` is ResNet-50.
    :param width: channels of the stem and of the first stage's blocks
        (64 in ResNet-50); stage ``k`` uses ``width * 2**k``.
    :param num_classes: outputs of the final ``fc`` layer; ``None`` for no
        ``fc`` (the pooled features are the output).
    """

    def __init__(self, layers: Sequence[int] = RESNET50_LAYERS, width: int = 64, num_classes: int | None = None) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"a ResNet has 4 stages of at least one block each, got {tuple(layers)}")
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = width
        for stage, blocks in enumerate(layers):
            stage_width = width * 2**stage
            stride = 1 if stage == 0 else 2
            stage_blocks = []
            for index in range(blocks):
                stage_blocks.append(Bottleneck(channels, stage_width, stride if index == 0 else 1))
                channels = stage_width * Bottleneck.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        self.feature_dim = channels  # 2048 for ResNet-50
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes) if num_classes is not None else None
        self._initialise()

    def _initialise(self) -> None:
        # torchvision's initialisation, so that freshly built networks behave like theirs.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def features(self, x: Tensor) -> Tensor:
        """Globally pooled features: ``(N, 3, H, W)`` -> ``(N, feature_dim)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        """``fc(features(x))``, or the features when there is no ``fc``."""
        features = self.features(x)
        return features if self.fc is None else self.fc(features)


def count_blocks(keys: Sequence[str], prefix: str = "") -> tuple[int, ...]:
    """Blocks per stage of a ResNet state dict, read from names like ``layer3.5.conv1.weight``."""
    counts = []
    for stage in range(1, 5):
        stage_prefix = f"{prefix}layer{stage}."
        indices = {int(key[len(stage_prefix) :].split(".")[0]) for key in keys if key.startswith(stage_prefix)}
        counts.append(max(indices) + 1 if indices else 0)
    return tuple(counts)
