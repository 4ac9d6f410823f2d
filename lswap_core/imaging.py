"""Image tensor helpers shared by face networks and commands."""

from __future__ import annotations

from pathlib import Path

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


def image_grid(rows: list[list[Tensor]], padding: int = 2) -> Tensor:
    """Tile ``(3, H, W)`` images in ``[-1, 1]`` row by row into one ``(3, H', W')`` image (white gaps)."""
    if not rows or not rows[0]:
        raise ValueError("image_grid needs at least one image")
    height, width = rows[0][0].shape[-2:]
    columns = max(len(row) for row in rows)
    grid = torch.ones(3, len(rows) * (height + padding) - padding, columns * (width + padding) - padding)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top, left = r * (height + padding), c * (width + padding)
            grid[:, top : top + height, left : left + width] = resize(image[None].float().cpu(), (height, width))[0]
    return grid


def save_png(image: Tensor, path: str | Path) -> Path:
    """Write one ``(3, H, W)`` image in ``[-1, 1]`` as a PNG, atomically."""
    from PIL import Image

    from .checkpoints import atomic_path

    pixels = to_uint8(image[None])[0].numpy()
    with atomic_path(path) as temp:
        Image.fromarray(pixels).save(temp, format="PNG")
    return Path(path)


def save_labelled_grid(rows: list[list[Tensor]], labels: list[str], path: str | Path, padding: int = 2) -> Path:
    """`image_grid` with a header band naming each column, saved as a PNG."""
    from PIL import Image, ImageDraw, ImageFont

    from .checkpoints import atomic_path

    grid = to_uint8(image_grid(rows, padding)[None])[0].numpy()
    cell = rows[0][0].shape[-1] + padding
    header = 16
    canvas = Image.new("RGB", (grid.shape[1], grid.shape[0] + header), "white")
    canvas.paste(Image.fromarray(grid), (0, header))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    for index, label in enumerate(labels):
        x = index * cell + (cell - padding - draw.textlength(label, font=font)) / 2
        draw.text((max(x, index * cell), 2), label, fill=(0, 0, 0), font=font)
    with atomic_path(path) as temp:
        canvas.save(temp, format="PNG")
    return Path(path)
