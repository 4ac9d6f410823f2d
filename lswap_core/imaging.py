"""Image tensor helpers shared by face networks and commands."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .interfaces import ImageConvention


def crop_fraction(images: Tensor, box: tuple[float, float, float, float]) -> Tensor:
    """Crop ``(N, C, H, W)`` images to a box given as fractions (left, top, right, bottom)."""
    height, width = images.shape[-2:]
    left, top, right, bottom = box
    x0, x1 = round(left * width), round(right * width)
    y0, y1 = round(top * height), round(bottom * height)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"crop box {box} is empty or outside a {height}x{width} image")
    return images[..., y0:y1, x0:x1]


def resize(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize with antialiasing when shrinking; a no-op at the same size."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    shrinking = images.shape[-2] > size[0] or images.shape[-1] > size[1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def to_convention(images: Tensor, convention: ImageConvention) -> Tensor:
    """Crop, resize and rescale ``[-1, 1]`` images to a network's input convention."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
    images = resize(crop_fraction(images, convention.crop), convention.size)
    low, high = convention.value_range
    if (low, high) != (-1.0, 1.0):
        images = (images + 1) * ((high - low) / 2) + low
    return images


def to_uint8(images: Tensor) -> Tensor:
    """``[-1, 1]`` float images to ``(N, H, W, 3)`` uint8 on the CPU."""
    scaled = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
