"""How face networks want their input images, and the one implementation that prepares them.

A network declares an `ImageConvention`; `to_convention` turns the images
lswap works with (aligned faces, ``(N, 3, H, W)`` in ``[-1, 1]``, any size)
into what the network was trained on. The host applies it for every
identity embedder (`lswap_core.interfaces.IdentityEmbedder.embed`), so all
of them crop, resize and rescale the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InputError

Matrix2x3 = tuple[tuple[float, float, float], tuple[float, float, float]]


@dataclasses.dataclass(frozen=True)
class ImageConvention:
    """How a face network wants its input image.

    `to_convention` applies it: optionally resize the whole image to
    ``work_size``; then take the ``crop`` box (fractions of the image:
    left, top, right, bottom) and resize it to ``size``, or, with ``warp``,
    resample the ``size`` output through that affine map instead; finally map
    ``[-1, 1]`` to ``value_range``.

    :param resample: ``"bilinear"``, or ``"area"`` (the average over each
        output pixel's footprint, as ``adaptive_avg_pool2d``) when shrinking;
        images that grow are always resized bilinearly.
    :param antialias: for bilinear shrinking, filter first; ``None`` does
        whenever the image shrinks, ``False`` reproduces reference code that
        calls ``F.interpolate(..., mode="bilinear")`` plainly.
    :param work_size: ``(height, width)`` the whole image is resized to
        first, as reference code that pools to a fixed size before cropping.
    :param warp: a 2x3 affine map from pixels of the (work-size) image to
        pixels of the output, replacing ``crop`` (a template alignment).
    """

    size: tuple[int, int]  # (height, width) the network sees
    crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    value_range: tuple[float, float] = (-1.0, 1.0)
    resample: Literal["bilinear", "area"] = "bilinear"
    antialias: bool | None = None
    work_size: tuple[int, int] | None = None
    warp: Matrix2x3 | None = None


def to_convention(images: Tensor, convention: ImageConvention) -> Tensor:
    """Prepare ``[-1, 1]`` images for a network with this convention; differentiable.

    Grey and RGBA batches are converted to RGB first (`ensure_rgb`).
    """
    images = ensure_rgb(images)
    if convention.work_size is not None:
        images = _resample(images, convention.work_size, convention)
    if convention.warp is not None:
        images = warp_affine(images, np.array(convention.warp, dtype=np.float64), convention.size)
    else:
        images = _resample(crop_fraction(images, convention.crop), convention.size, convention)
    low, high = convention.value_range
    if (low, high) != (-1.0, 1.0):
        images = (images + 1) * ((high - low) / 2) + low
    return images


def _resample(images: Tensor, size: tuple[int, int], convention: ImageConvention) -> Tensor:
    shrinks = images.shape[-2] >= size[0] and images.shape[-1] >= size[1]
    if convention.resample == "area" and shrinks:
        return images if tuple(images.shape[-2:]) == tuple(size) else F.adaptive_avg_pool2d(images, size)
    return resize(images, size, antialias=convention.antialias)


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


def warp_affine(images: Tensor, matrix: np.ndarray, size: int | tuple[int, int], *, fill: float = -1.0) -> Tensor:
    """Resample ``(N, C, H, W)`` images with a pixel-space affine map, like ``cv2.warpAffine``.

    Output pixel ``(u, v)`` takes the bilinear sample of the input at
    ``M⁻¹ (u, v)``, pixel centres at integer coordinates; outside the input it
    takes ``fill`` (-1 is black for ``[-1, 1]`` images). Differentiable.

    :param matrix: ``(2, 3)`` map from input to output pixel coordinates.
    :param size: side of the square output, or its ``(height, width)``.
    """
    out_height, out_width = (size, size) if isinstance(size, int) else size
    height, width = images.shape[-2:]
    forward = np.vstack([matrix, [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    # Normalised output coords -> output pixels -> input pixels -> normalised input coords.
    to_pixels = np.array([[out_width / 2, 0, (out_width - 1) / 2], [0, out_height / 2, (out_height - 1) / 2], [0, 0, 1]])
    to_normalised = np.array([[2 / width, 0, 1 / width - 1], [0, 2 / height, 1 / height - 1], [0, 0, 1]])
    theta = torch.as_tensor((to_normalised @ inverse @ to_pixels)[:2], dtype=images.dtype, device=images.device)
    batch, channels = images.shape[:2]
    grid = F.affine_grid(theta.expand(batch, 2, 3), [batch, channels, out_height, out_width], align_corners=False)
    warped = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped + fill
