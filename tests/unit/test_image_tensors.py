"""Image helpers: RGB conversion and resizing with or without antialiasing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lswap_core.errors import InputError
from lswap_core.conventions import ensure_rgb, resize, to_convention
from lswap_core.interfaces import ImageConvention


def test_grey_and_rgba_batches_become_rgb():
    grey = torch.rand(2, 1, 8, 8)
    assert torch.equal(ensure_rgb(grey), grey.repeat(1, 3, 1, 1))
    rgba = torch.rand(2, 4, 8, 8)
    assert torch.equal(ensure_rgb(rgba), rgba[:, :3])
    rgb = torch.rand(2, 3, 8, 8)
    assert ensure_rgb(rgb) is rgb


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 2, 8, 8), (1, 5, 8, 8)])
def test_other_shapes_are_a_clear_error(shape):
    with pytest.raises(InputError, match=r"expected images of shape \(N, 3, H, W\)"):
        ensure_rgb(torch.zeros(shape))


def test_resize_antialiases_only_when_asked_or_shrinking():
    images = torch.rand(1, 3, 64, 64)
    plain = F.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False)
    filtered = F.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(resize(images, (16, 16)), filtered)
    assert torch.equal(resize(images, (16, 16), antialias=False), plain)
    assert resize(images, (64, 64)) is images


def test_to_convention_crops_resizes_and_rescales_grey_input():
    images = torch.linspace(-1, 1, 16 * 16).view(1, 1, 16, 16)
    convention = ImageConvention(size=(4, 4), crop=(0.5, 0.0, 1.0, 0.5), value_range=(0.0, 1.0), antialias=False)
    out = to_convention(images, convention)
    expected = (F.interpolate(images[..., :8, 8:], size=(4, 4), mode="bilinear", align_corners=False) + 1) / 2
    assert out.shape == (1, 3, 4, 4) and torch.allclose(out, expected.expand(-1, 3, -1, -1))


def test_area_convention_pools_to_the_work_size_then_crops_and_pools():
    # e4e's identity loss: pool to 256, crop [35:223, 32:220], pool to 112.
    images = torch.rand(2, 3, 512, 512) * 2 - 1
    convention = ImageConvention(
        size=(112, 112), crop=(32 / 256, 35 / 256, 220 / 256, 223 / 256), resample="area", work_size=(256, 256)
    )
    expected = F.adaptive_avg_pool2d(F.adaptive_avg_pool2d(images, 256)[:, :, 35:223, 32:220], 112)
    assert torch.equal(to_convention(images, convention), expected)
    small = torch.rand(1, 3, 128, 128)  # smaller than the work size: resized bilinearly instead
    grown = F.interpolate(small, size=(256, 256), mode="bilinear", align_corners=False)
    assert torch.equal(to_convention(small, convention), F.adaptive_avg_pool2d(grown[:, :, 35:223, 32:220], 112))


def test_warp_convention_resamples_through_the_affine_map():
    images = torch.rand(1, 3, 8, 8)
    shift = ((1.0, 0.0, -2.0), (0.0, 1.0, -1.0))  # output pixel (u, v) reads input (u + 2, v + 1)
    out = to_convention(images, ImageConvention(size=(4, 4), warp=shift))
    assert torch.allclose(out, images[:, :, 1:5, 2:6], atol=1e-6)
