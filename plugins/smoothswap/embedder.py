"""The smooth identity embedder of LatentSwap's identity loss.

Kim, Lee and Zhang, "Smooth-Swap: A Simple Enhancement for Face-Swapping
with Smoothness" (CVPR 2022) train an identity embedder whose embedding
space is smooth; LatentSwap (Choi et al. 2024, section "Identity Loss")
re-implemented it and computes ``L_id`` with it. Architecture and input
convention follow the official code (usingcolor/LatentSwap
model/embedder.py and latentswap_pl.py):

- a torchvision ResNet-50 whose ``fc`` maps 2048 -> 2048 features,
- ``last``: Linear(2048, 1024) -> BatchNorm1d -> LeakyReLU(0.01) ->
  Linear(1024, 512) -> BatchNorm1d,
- L2 normalisation;
- inputs: the whole aligned image, bilinearly resized to 256x256 (without
  antialiasing, as ``F.interpolate`` does there), values in ``[0, 1]``.

The official Lightning checkpoint stores these weights under ``net.``;
`lswap_plugins.smoothswap.convert` strips that prefix.
"""

from __future__ import annotations

import dataclasses

import torch.nn.functional as F
from torch import Tensor, nn

from lswap_core.interfaces import IdentityEmbedder, ImageConvention
from lswap_plugins.backbones.resnet import RESNET50_LAYERS, ResNet


@dataclasses.dataclass
class SmoothSwapConfig:
    layers: tuple[int, ...] = RESNET50_LAYERS  # bottleneck blocks per ResNet stage (ResNet-50)
    width: int = 64  # ResNet stem width; the pooled features have 32x this many channels (2048)
    fc_dim: int = 2048  # outputs of the ResNet's own fc layer: resnet50(num_classes=2048)
    hidden_dim: int = 1024  # width of the head's hidden layer
    embedding_dim: int = 512
    negative_slope: float = 0.01  # nn.LeakyReLU() default, as in the official head
    input_size: int = 256  # official: F.interpolate(images, size=256) before embedding
    antialias: bool = False  # official resizes without antialiasing; True filters first when shrinking

    def __post_init__(self) -> None:
        if len(self.layers) != 4 or min(self.layers) < 1:
            raise ValueError(f"layers must give 4 ResNet stages of at least one block, got {self.layers}")
        for field in ("width", "fc_dim", "hidden_dim", "embedding_dim", "input_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be positive")


class SmoothSwapEmbedder(IdentityEmbedder):
    """Smooth identity embedder (ResNet-50 + MLP head, 512-d), as trained for LatentSwap."""

    name = "smoothswap"
    description = "Smooth-Swap identity embedder used by LatentSwap's identity loss (ResNet-50, 512-d)"
    config_class = SmoothSwapConfig
    presets = {
        "tiny": {"layers": (1, 1, 1, 1), "width": 4, "fc_dim": 32, "hidden_dim": 24, "embedding_dim": 16, "input_size": 64},
    }

    def __init__(self, config: SmoothSwapConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.resnet = ResNet(cfg.layers, cfg.width, num_classes=cfg.fc_dim)
        self.last = nn.Sequential(
            nn.Linear(cfg.fc_dim, cfg.hidden_dim),
            nn.BatchNorm1d(cfg.hidden_dim),
            nn.LeakyReLU(cfg.negative_slope),
            nn.Linear(cfg.hidden_dim, cfg.embedding_dim),
            nn.BatchNorm1d(cfg.embedding_dim),
        )

    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    @property
    def input_convention(self) -> ImageConvention:
        side = self.config.input_size
        return ImageConvention(size=(side, side), value_range=(0.0, 1.0), antialias=self.config.antialias)

    def forward(self, x: Tensor) -> Tensor:
        """The official forward: ``(N, 3, input_size, input_size)`` in ``[0, 1]`` -> unit ``(N, embedding_dim)``."""
        return F.normalize(self.last(self.resnet(x)), dim=1)
