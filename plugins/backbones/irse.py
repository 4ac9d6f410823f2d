"""IR-SE ArcFace backbone, parameter names as in TreB1eN/InsightFace_Pytorch.

Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face
Recognition" (2019): an "improved residual" (IR) network with
squeeze-and-excitation (SE) blocks on 112x112 faces. pSp, e4e and PTI load
TreB1eN's ``model_ir_se50.pth`` into this layout for their identity loss
(reference: omertov/encoder4editing models/encoders/model_irse.py and
helpers.py): ``input_layer.{0,1,2}``, ``body.N.shortcut_layer``,
``body.N.res_layer.{0..5}``, ``output_layer.{0,3,4}``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

IR_SE50_BLOCKS = (3, 4, 14, 3)
SE_REDUCTION = 16


class SqueezeExcite(nn.Module):
    """Channel gating by a bottlenecked summary of the whole feature map."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        if channels < reduction:
            raise ValueError(f"squeeze-and-excitation needs at least {reduction} channels, got {channels}")
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        return x * gate.sigmoid()


class IRSEBlock(nn.Module):
    """BN -> 3x3 conv -> PReLU -> 3x3 conv (strided) -> BN -> SE, plus a shortcut.

    The shortcut subsamples (a 1x1 max-pool with stride, as in the reference)
    when the width is unchanged, and is a strided 1x1 convolution otherwise.
    """

    def __init__(self, in_channels: int, depth: int, stride: int) -> None:
        super().__init__()
        if in_channels == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, 1, stride, bias=False),
                nn.BatchNorm2d(depth),
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
            SqueezeExcite(depth),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRSEBackbone(nn.Module):
    """IR-SE network on 112x112 faces in ``[-1, 1]``: ``(N, 3, 112, 112)`` -> ``(N, embedding_dim)`` unit vectors.

    :param blocks: IR-SE blocks per stage; ``(3, 4, 14, 3)`` is IR-SE-50.
    :param width: channels of the first stage (64); stage ``k`` has ``width * 2**k``.
    :param embedding_dim: output length (512).
    :param input_size: side of the input; the head flattens a
        ``(input_size / 16)²`` map (7x7 for 112).
    """

    def __init__(
        self,
        blocks: Sequence[int] = IR_SE50_BLOCKS,
        width: int = 64,
        embedding_dim: int = 512,
        input_size: int = 112,
    ) -> None:
        super().__init__()
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"IR-SE has 4 stages of at least one block each, got {tuple(blocks)}")
        if input_size % 16:
            raise ValueError(f"the input side must be a multiple of 16, got {input_size}")
        self.input_size = input_size
        self.input_layer = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.PReLU(width))
        units = []
        channels = width
        for stage, count in enumerate(blocks):
            depth = width * 2**stage
            for index in range(count):
                # Every stage, the first included, starts by halving the resolution.
                units.append(IRSEBlock(channels, depth, 2 if index == 0 else 1))
                channels = depth
        self.body = nn.Sequential(*units)
        side = input_size // 16
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.Dropout(0.4),  # inactive in eval mode; kept so that indices match the reference
            nn.Flatten(),
            nn.Linear(channels * side * side, embedding_dim),
            nn.BatchNorm1d(embedding_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"IR-SE takes {self.input_size}x{self.input_size} inputs, got {tuple(x.shape[-2:])}")
        features = self.output_layer(self.body(self.input_layer(x)))
        return F.normalize(features, dim=1)


def stage_blocks(shapes: Mapping[str, Sequence[int]], prefix: str = "") -> tuple[int, ...]:
    """Blocks per stage of an IR-SE state dict, from the output widths of ``body.N.res_layer.1``.

    :param shapes: tensor shapes by state-dict name.
    """
    stem = f"{prefix}body."
    depths = {
        int(key[len(stem) :].split(".")[0]): shape[0]
        for key, shape in shapes.items()
        if key.startswith(stem) and key.endswith(".res_layer.1.weight")
    }
    ordered = [depths[index] for index in sorted(depths)]
    return tuple(len(list(group)) for _, group in itertools.groupby(ordered))
