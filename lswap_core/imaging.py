"""Image tensor helpers shared by face networks and commands."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InputError
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


def resize(images: Tensor, size: tuple[int, int], *, antialias: bool | None = None) -> Tensor:
    """Bilinear resize; a no-op at the same size.

    :param antialias: filter before shrinking; ``None`` does so whenever the
        image shrinks. ``False`` reproduces reference code that calls
        ``F.interpolate(..., mode="bilinear")`` plainly.
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    if antialias is None:
        antialias = images.shape[-2] > size[0] or images.shape[-1] > size[1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=antialias)


def ensure_rgb(images: Tensor) -> Tensor:
    """``(N, C, H, W)`` images as RGB: grey (C = 1) is repeated, an alpha channel (C = 4) dropped.

    :raises InputError: for other shapes.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise InputError(
            f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}",
            hint="pass a batch of RGB images (grey and RGBA batches are converted)",
        )
    if images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1)
    return images if images.shape[1] == 3 else images[:, :3]


def to_convention(images: Tensor, convention: ImageConvention, *, antialias: bool | None = None) -> Tensor:
    """Crop, resize and rescale ``[-1, 1]`` images to a network's input convention.

    Grey and RGBA batches are converted to RGB first (`ensure_rgb`).
    """
    images = resize(crop_fraction(ensure_rgb(images), convention.crop), convention.size, antialias=antialias)
    low, high = convention.value_range
    if (low, high) != (-1.0, 1.0):
        images = (images + 1) * ((high - low) / 2) + low
    return images


def to_uint8(images: Tensor) -> Tensor:
    """``[-1, 1]`` float images to ``(N, H, W, 3)`` uint8 on the CPU."""
    scaled = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
