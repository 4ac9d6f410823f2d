"""face-api's nets that read one face crop at 112²: landmarks, expressions, age and gender.

Ports of ``src/faceFeatureExtractor/`` (dense blocks of separable
convolutions), ``src/faceLandmarkNet/``, ``src/faceExpressionNet/``,
``src/xception/`` and ``src/ageGenderNet/`` in vladmandic/face-api. Each net
takes crops already squared and resized to 112² (`face_crops` does that the
way face-api does) in ``[-1, 1]``.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ConvParams, FCParams, SeparableConvParams
from .ops import max_pool_same, network_input, to_face_api_pixels

INPUT_SIZE = 112
EXPRESSION_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")


def face_crops(crops: list[Tensor]) -> Tensor:
    """Crops of any sizes ``[(3, h, w), ...]`` in ``[-1, 1]`` to one ``(N, 3, 112, 112)`` batch.

    Each crop is padded to a centred square with black and resized with the
    legacy bilinear filter, as ``NetInput.toBatchTensor(112, true)`` does.
    """
    return torch.stack([network_input(crop, INPUT_SIZE, centered=True) for crop in crops])


class DenseBlock(nn.Module):
    """``denseBlock3`` / ``denseBlock4``: each conv sees the sum of all earlier outputs.

    The first conv halves the resolution (a plain convolution in the first
    block of a net, separable elsewhere).
    """

    def __init__(self, in_channels: int, out_channels: int, convs: int, first: bool) -> None:
        super().__init__()
        self.conv0: nn.Module = ConvParams(in_channels, out_channels, 3) if first else SeparableConvParams(in_channels, out_channels)
        for index in range(1, convs):
            self.add_module(f"conv{index}", SeparableConvParams(out_channels, out_channels))
        self.convs = convs

    def forward(self, x: Tensor) -> Tensor:
        outputs = [F.relu(self.conv0(x, stride=2))]
        for index in range(1, self.convs):
            layer_input = outputs[0] if index == 1 else F.relu(sum(outputs))  # type: ignore[arg-type]
            outputs.append(getattr(self, f"conv{index}")(layer_input))
        return F.relu(sum(outputs))  # type: ignore[arg-type]


class DenseFeatureNet(nn.Module):
    """Dense blocks ``dense0``… and a fully connected head ``fc`` (``FaceProcessor``).

    Full extractor: four 4-conv blocks (32, 64, 128, 256 channels) and a 7×7
    average pool; tiny: three 3-conv blocks (32, 64, 128) and a 14×14 pool.
    """

    def __init__(self, outputs: int, tiny: bool) -> None:
        super().__init__()
        widths = (32, 64, 128) if tiny else (32, 64, 128, 256)
        channels = 3
        for index, width in enumerate(widths):
            self.add_module(f"dense{index}", DenseBlock(channels, width, 3 if tiny else 4, first=index == 0))
            channels = width
        self.blocks = len(widths)
        self.pool = 14 if tiny else 7
        self.fc = FCParams(channels, outputs)

    def features(self, crops: Tensor) -> Tensor:
        """Bottleneck features ``(N, C)`` of ``(N, 3, 112, 112)`` crops in ``[-1, 1]``."""
        if crops.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"face nets take 112x112 crops, got {tuple(crops.shape[-2:])}")
        x = to_face_api_pixels(crops)
        for index in range(self.blocks):
            x = getattr(self, f"dense{index}")(x)
        return F.avg_pool2d(x, self.pool, 2).flatten(1)

    def forward(self, crops: Tensor) -> Tensor:
        """Raw head outputs ``(N, outputs)``."""
        return self.fc(self.features(crops))


class FaceLandmark68Net(DenseFeatureNet):
    """68 landmarks of a face crop (``FaceLandmark68Net`` / ``FaceLandmark68TinyNet``)."""

    def __init__(self, tiny: bool = False) -> None:
        super().__init__(136, tiny)

    def landmarks(self, crops: Tensor) -> Tensor:
        """``(N, 68, 2)`` points as fractions of the squared 112² input (x, y)."""
        return self(crops).view(-1, 68, 2)


class FaceExpressionNet(DenseFeatureNet):
    """Seven expression probabilities of a face crop, in `EXPRESSION_LABELS` order."""

    def __init__(self) -> None:
        super().__init__(len(EXPRESSION_LABELS), tiny=False)

    def probabilities(self, crops: Tensor) -> Tensor:
        """``(N, 7)`` softmax probabilities of ``(N, 3, 112, 112)`` crops."""
        return self(crops).softmax(dim=1)


class ReductionBlock(nn.Module):
    """Xception reduction block: two separable convs, 3×3/2 max pool, strided 1×1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, activate_input: bool) -> None:
        super().__init__()
        self.activate_input = activate_input
        self.separable_conv0 = SeparableConvParams(in_channels, out_channels)
        self.separable_conv1 = SeparableConvParams(out_channels, out_channels)
        self.expansion_conv = ConvParams(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(x) if self.activate_input else x
        out = self.separable_conv1(F.relu(self.separable_conv0(out)))
        return max_pool_same(out, 3, 2) + self.expansion_conv(x, stride=2)


class MainBlock(nn.Module):
    """Xception middle-flow block: three ReLU + separable convs and an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        for index in range(3):
            self.add_module(f"separable_conv{index}", SeparableConvParams(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for index in range(3):
            out = getattr(self, f"separable_conv{index}")(F.relu(out))
        return out + x


class EntryFlow(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_in = ConvParams(3, 32, 3)
        self.reduction_block_0 = ReductionBlock(32, 64, activate_input=False)
        self.reduction_block_1 = ReductionBlock(64, 128, activate_input=True)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv_in(x, stride=2))
        return self.reduction_block_1(self.reduction_block_0(x))


class MiddleFlow(nn.Module):
    def __init__(self, blocks: int) -> None:
        super().__init__()
        for index in range(blocks):
            self.add_module(f"main_block_{index}", MainBlock(128))

    def forward(self, x: Tensor) -> Tensor:
        for block in self.children():
            x = block(x)
        return x


class ExitFlow(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.reduction_block = ReductionBlock(128, 256, activate_input=True)
        self.separable_conv = SeparableConvParams(256, 512)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.separable_conv(self.reduction_block(x)))


class AgeGenderHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.age = FCParams(512, 1)
        self.gender = FCParams(512, 2)


@dataclasses.dataclass
class AgeGender:
    """Age in years ``(N,)`` and the probability that the face is male ``(N,)``."""

    age: Tensor
    male_probability: Tensor


class AgeGenderNet(nn.Module):
    """Tiny Xception (two middle blocks) with an age regressor and a gender classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.entry_flow = EntryFlow()
        self.middle_flow = MiddleFlow(2)
        self.exit_flow = ExitFlow()
        self.fc = AgeGenderHeads()

    def forward(self, crops: Tensor) -> AgeGender:
        """Predictions for ``(N, 3, 112, 112)`` crops in ``[-1, 1]``."""
        if crops.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"face nets take 112x112 crops, got {tuple(crops.shape[-2:])}")
        x = self.exit_flow(self.middle_flow(self.entry_flow(to_face_api_pixels(crops))))
        pooled = F.avg_pool2d(x, 7, 2).flatten(1)
        gender = self.fc.gender(pooled).softmax(dim=1)
        return AgeGender(age=self.fc.age(pooled)[:, 0], male_probability=gender[:, 0])
