"""Image tensor helpers shared by face networks and commands, and image files in and out."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .conventions import resize
from .errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# The formats of IMAGE_SUFFIXES (PIL opens JPEGs with several pictures, MPO, as JPEG). PIL reads
# others, and some (EPS) by running Ghostscript on the file, so a photo.png that is in fact a
# PostScript program is refused instead of run.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")
TRANSPARENT_BACKGROUND = (255, 255, 255)  # transparent pixels are shown over white, as a browser shows them


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


def load_image(path: str | Path) -> Tensor:
    """Read an image file as one ``(3, H, W)`` RGB float tensor in ``[-1, 1]``.

    Whatever the file holds becomes plain RGB instead of an error: grayscale
    (8- and 16-bit), palette, CMYK, images with an alpha channel (composited
    over white), 16-bit and floating-point images (rescaled), and photos whose
    EXIF orientation says they are rotated (turned upright).

    Only the formats of `IMAGE_SUFFIXES` are read, whatever the file's name.

    :raises InputError: the path is missing, a folder, or not a readable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"image {path} does not exist" if not path.exists() else f"{path} is a folder, not an image")
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as opened:
            opened.load()
            image = _upright(opened, ImageOps)
            pixels = _rgb_pixels(image)
    except UnidentifiedImageError:
        raise InputError(f"{path} is not an image file lswap can read", hint=f"use one of {', '.join(IMAGE_SUFFIXES)}") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path} is too large to open safely ({exc})", hint="resize it first") from None
    except (OSError, ValueError, SyntaxError, struct.error, TypeError) as exc:
        # struct.error: PIL reading a cut header; TypeError: a TIFF strip offset stored as a float (tests/fuzz)
        raise InputError(f"{path} is truncated or corrupt ({exc})", hint="re-export the image") from None
    except MemoryError:
        raise InputError(f"{path} is too large to load into memory", hint="resize it first") from None
    try:
        tensor = torch.from_numpy(pixels).permute(2, 0, 1).float()
        return tensor / 127.5 - 1
    except RuntimeError:  # torch's allocator: "can't allocate memory" (tests/fuzz: a 10 x 8454156 PNG)
        height, width = pixels.shape[:2]
        raise InputError(f"{path} ({width}x{height} pixels) is too large to load into memory", hint="resize it first") from None


def _upright(image, image_ops):  # type: ignore[no-untyped-def]
    """Apply the EXIF orientation; an unreadable EXIF block leaves the image as stored."""
    try:
        return image_ops.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, struct.error):  # struct.error: a cut EXIF header
        return image


def _rgb_pixels(image) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``(H, W, 3)`` uint8 RGB pixels of any PIL image mode."""
    from PIL import Image

    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64)
        if mode == "F":
            top = 1.0 if values.size and values.max() <= 1.0 else 255.0
        else:  # PIL keeps 16-bit samples in I / I;16 modes
            top = 65535.0
        gray = np.clip(np.round(values / top * 255), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*TRANSPARENT_BACKGROUND, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def save_image(path: str | Path, image: Tensor) -> Path:
    """Write one ``(3, H, W)`` image in ``[-1, 1]`` atomically; the format follows the suffix."""
    from PIL import Image

    from .files import atomic_path

    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot tell the image format of {path}", hint=f"end it in one of {', '.join(IMAGE_SUFFIXES)}")
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected one image (3, H, W), got {tuple(image.shape)}")
    pixels = to_uint8(image[None])[0].numpy()
    file_format = Image.registered_extensions()[path.suffix.lower()]
    with atomic_path(path) as temp:
        Image.fromarray(pixels).save(temp, format=file_format)
    return path


def photo_mode(path: str | Path) -> str:
    """The PIL mode an output made from photo ``path`` is saved in: grayscale stays grayscale, CMYK stays CMYK,
    everything else is RGB (transparent photos were composited over white when read)."""
    from PIL import Image

    with Image.open(path, formats=IMAGE_FORMATS) as opened:
        mode = opened.mode
    if mode in ("L", "I", "F") or mode.startswith("I;16"):
        return "L"
    return "CMYK" if mode == "CMYK" else "RGB"


def save_image_as(path: str | Path, image: Tensor, mode: str) -> Path:
    """`save_image` in PIL ``mode`` (``RGB``, ``L`` or ``CMYK``; CMYK only where the format takes it)."""
    from PIL import Image

    from .files import atomic_path

    path = Path(path)
    if mode == "RGB":
        return save_image(path, image)
    file_format = Image.registered_extensions().get(path.suffix.lower())
    if file_format is None or path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot tell the image format of {path}", hint=f"end it in one of {', '.join(IMAGE_SUFFIXES)}")
    picture = Image.fromarray(to_uint8(image[None])[0].numpy(), "RGB")
    if mode == "CMYK" and file_format not in ("JPEG", "TIFF"):
        mode = "RGB"
    with atomic_path(path) as temp:
        picture.convert(mode).save(temp, format=file_format)
    return path


def save_labelled_grid(rows: list[list[Tensor]], labels: list[str], path: str | Path, padding: int = 2) -> Path:
    """`image_grid` with a header band naming each column, saved as a PNG."""
    from PIL import Image, ImageDraw, ImageFont

    from .files import atomic_path

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
