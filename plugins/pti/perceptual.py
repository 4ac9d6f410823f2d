"""The perceptual networks PTI uses: LPIPS for tuning, NVIDIA's VGG16 features for the projection."""

from __future__ import annotations

from torch import Tensor, nn

from lswap_plugins.perceptual.lpips import LPIPS, load_lpips
from lswap_plugins.perceptual.nvidia_vgg import NvidiaVGG16, load_vgg16

from .config import PTIConfig
from .projector import pixel_features


class PixelFeatures(nn.Module):
    """The image itself as projection features (``projection_features: pixels``)."""

    def forward(self, images: Tensor) -> Tensor:
        return pixel_features(images)


def build_lpips(config: PTIConfig) -> LPIPS:
    """LPIPS with the configured trunk: official weights, or random ones (``perceptual_init: random``)."""
    if config.perceptual_init == "random":
        return LPIPS(config.lpips_net, pretrained=False)
    return load_lpips(config.lpips_net, config.lpips_weights)


def build_projection_features(config: PTIConfig) -> nn.Module:
    """What the projection compares: NVIDIA's VGG16 features, or the pixels."""
    if config.projection_features == "pixels":
        return PixelFeatures()
    if config.perceptual_init == "random":
        return NvidiaVGG16()
    return load_vgg16(config.vgg16_weights)
