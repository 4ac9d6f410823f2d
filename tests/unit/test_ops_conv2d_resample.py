"""conv2d_resample equals resampling and convolving one step at a time."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lswap_core.ops.conv2d_resample import conv2d_resample
from lswap_core.ops.upfirdn2d import setup_filter, upfirdn2d

F4 = setup_filter([1, 3, 3, 1])


def stepwise(x, w, up, down, padding, groups, flip_weight):
    """Upsample (zero-stuff + filter), pad, convolve, filter + subsample: the op's specification."""
    fw = F4.shape[-1]
    kernel = w if flip_weight else w.flip([2, 3])
    if up > 1:
        p0, p1 = (fw + up - 1) // 2 + padding, (fw - up) // 2 + padding
        x = upfirdn2d(x, F4, up=up, padding=[p0, p1, p0, p1], gain=up**2, impl="ref")
        return F.conv2d(x, kernel, groups=groups)
    if down > 1:
        p0, p1 = (fw - down + 1) // 2 + padding, (fw - down) // 2 + padding
        x = upfirdn2d(x, F4, padding=[p0, p1, p0, p1], impl="ref")
        return F.conv2d(x, kernel, groups=groups)[:, :, ::down, ::down]
    return F.conv2d(x, kernel, padding=padding, groups=groups)


@pytest.mark.parametrize(("up", "down"), [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("flip_weight", [True, False])
@pytest.mark.parametrize("impl", ["ref", "auto"])
def test_matches_the_stepwise_computation(up, down, kernel, groups, flip_weight, impl):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64, generator=gen)
    w = torch.randn(6, 4 // groups, kernel, kernel, dtype=torch.float64, generator=gen)
    padding = kernel // 2
    options = {"up": up, "down": down, "padding": padding, "groups": groups, "flip_weight": flip_weight}
    result = conv2d_resample(x, w, F4, impl=impl, **options)
    expected = stepwise(x, w, up, down, padding, groups, flip_weight)
    torch.testing.assert_close(result, expected, rtol=0, atol=1e-11)


def test_bad_arguments():
    x, w = torch.randn(1, 2, 4, 4), torch.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match="integers >= 1"):
        conv2d_resample(x, w, F4, up=0)
    with pytest.raises(ValueError, match="4-D x and w"):
        conv2d_resample(x[0], w, F4)
    # Mixed precision: weights of another dtype are cast to the activations'.
    mixed = conv2d_resample(x, w.double(), F4)
    assert mixed.dtype == x.dtype
    torch.testing.assert_close(mixed, conv2d_resample(x, w, F4))
