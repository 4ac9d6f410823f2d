"""Image files in and out: every common mode becomes RGB, bad files are clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lswap_core.errors import InputError
from lswap_core.imaging import load_image, save_image


def gradient(height: int = 6, width: int = 8) -> np.ndarray:
    """An RGB image whose pixels are all different, so orientation errors show."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 30, y * 40, (x + y) * 10], axis=-1).astype(np.uint8)


def pixels(tensor: torch.Tensor) -> np.ndarray:
    return ((tensor + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.int64)


def test_rgb_round_trip(tmp_path):
    Image.fromarray(gradient()).save(tmp_path / "rgb.png")
    image = load_image(tmp_path / "rgb.png")
    assert image.shape == (3, 6, 8) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1
    np.testing.assert_array_equal(pixels(image), gradient())


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = gradient()[..., 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    image = pixels(load_image(tmp_path / "gray.png"))
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], gray)


def test_sixteen_bit_grayscale_is_rescaled(tmp_path):
    values = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 1365).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = pixels(load_image(tmp_path / "deep.png"))
    np.testing.assert_array_equal(image[..., 0], np.round(values / 65535 * 255).astype(np.int64))


def test_float_images_are_rescaled(tmp_path):
    values = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    Image.fromarray(values, mode="F").save(tmp_path / "float.tif")
    image = pixels(load_image(tmp_path / "float.tif"))
    assert image[0, 0, 0] == 0 and image[-1, -1, 0] == 255


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:2, :, 3] = 255  # top half opaque red, bottom half fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    image = pixels(load_image(tmp_path / "alpha.png"))
    np.testing.assert_array_equal(image[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(image[3, 3], [255, 255, 255])


def test_palette_with_transparency(tmp_path):
    palette_image = Image.fromarray(gradient()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette_image.info["transparency"] = 0
    palette_image.save(tmp_path / "palette.png", transparency=0)
    image = load_image(tmp_path / "palette.png")
    assert image.shape == (3, 6, 8)


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(gradient()).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert load_image(tmp_path / "cmyk.jpg").shape == (3, 6, 8)


def test_exif_rotation_is_applied(tmp_path):
    stored = Image.fromarray(gradient())
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned, show rotated 90° clockwise
    stored.save(tmp_path / "rotated.png", exif=exif)
    image = pixels(load_image(tmp_path / "rotated.png"))
    np.testing.assert_array_equal(image, np.rot90(gradient(), k=-1))


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"not an image at all", "not an image file"), ("folder", "is a folder")],
)
def test_unreadable_paths_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "input.png"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_image(path)


def test_truncated_image_is_a_clear_error(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(tmp_path / "cut.png")


def test_save_image_round_trip_and_refusals(tmp_path):
    Image.fromarray(gradient()).save(tmp_path / "in.png")
    image = load_image(tmp_path / "in.png")
    save_image(tmp_path / "out.png", image)
    np.testing.assert_array_equal(pixels(load_image(tmp_path / "out.png")), gradient())
    with pytest.raises(InputError, match="image format"):
        save_image(tmp_path / "out.txt", image)
    with pytest.raises(InputError, match="does not exist"):
        save_image(tmp_path / "missing" / "out.png", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.png"]
