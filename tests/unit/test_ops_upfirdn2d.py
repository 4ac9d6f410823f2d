"""upfirdn2d: both PyTorch paths against the definition, the adjoint its CUDA backward uses, gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lswap_core.ops.upfirdn2d import (
    adjoint_padding,
    downsample2d,
    filter2d,
    filter_size,
    setup_filter,
    upfirdn2d,
    upsample2d,
)


def by_definition(x, f, up, down, pad, flip, gain):
    """Zero-stuff, pad, convolve (a literal double loop), subsample: the op's specification."""
    x, f = x.numpy(), f.numpy().astype(np.float64)
    if f.ndim == 1:
        f = np.outer(f, f)
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, pad
    n, c, h, w = x.shape
    stuffed = np.zeros((n, c, h * upy, w * upx))
    stuffed[:, :, ::upy, ::upx] = x
    padded = np.zeros((n, c, h * upy + max(py0, 0) + max(py1, 0), w * upx + max(px0, 0) + max(px1, 0)))
    padded[:, :, max(py0, 0) : max(py0, 0) + h * upy, max(px0, 0) : max(px0, 0) + w * upx] = stuffed
    padded = padded[:, :, max(-py0, 0) : padded.shape[2] - max(-py1, 0), max(-px0, 0) : padded.shape[3] - max(-px1, 0)]
    kernel = f if flip else f[::-1, ::-1]  # a convolution is a correlation with the flipped filter
    fh, fw = kernel.shape
    out = np.zeros((n, c, padded.shape[2] - fh + 1, padded.shape[3] - fw + 1))
    for i, j in itertools.product(range(out.shape[2]), range(out.shape[3])):
        out[:, :, i, j] = (padded[:, :, i : i + fh, j : j + fw] * kernel).sum(axis=(2, 3))
    return torch.from_numpy(out[:, :, ::downy, ::downx] * gain)


FILTERS = {
    "[1,3,3,1]": setup_filter([1, 3, 3, 1]),
    "asymmetric 2-D": setup_filter([[1.0, 2.0, 0.5], [0.3, 1.0, 2.0]]),
    "separable 8 taps": setup_filter([1, 2, 3, 4, 4, 3, 2, 1]),
}
CASES = [
    ((1, 1), (1, 1), (0, 0, 0, 0)),
    ((2, 2), (1, 1), (2, 1, 2, 1)),
    ((2, 3), (1, 1), (1, 3, 0, 2)),
    ((3, 1), (1, 1), (-1, 2, 1, -1)),
    ((1, 1), (2, 2), (1, 1, 1, 1)),
    ((1, 1), (2, 3), (2, 0, -1, 3)),
    ((2, 2), (2, 2), (1, 2, 1, 2)),
]


@pytest.mark.parametrize("impl", ["ref", "auto"])
@pytest.mark.parametrize("filter_name", list(FILTERS))
@pytest.mark.parametrize(("up", "down", "pad"), CASES)
@pytest.mark.parametrize("flip", [False, True])
def test_matches_the_definition(impl, filter_name, up, down, pad, flip):
    f = FILTERS[filter_name]
    x = torch.randn(2, 3, 9, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # Gain 4: its square root, applied per pass to separable filters, is exact in float32.
    expected = by_definition(x, f, up, down, pad, flip, 4.0)
    result = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=4.0, impl=impl)
    torch.testing.assert_close(result, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("up", "down", "pad"), CASES)
def test_the_adjoint_used_by_the_cuda_backward(up, down, pad):
    # <A x, y> == <x, A* y> with A* = upfirdn2d(up=down, down=up, padding=adjoint, flip_filter=not flip).
    f = FILTERS["asymmetric 2-D"]
    x = torch.randn(1, 2, 6, 7, dtype=torch.float64)
    ax = upfirdn2d(x, f, up=up, down=down, padding=pad, impl="ref")
    y = torch.randn_like(ax)
    p = adjoint_padding(tuple(x.shape[2:]), tuple(ax.shape[2:]), filter_size(f), up, down, pad)
    adjoint_y = upfirdn2d(y, f, up=down, down=up, padding=p, flip_filter=True, impl="ref")
    assert adjoint_y.shape == x.shape
    torch.testing.assert_close((ax * y).sum(), (x * adjoint_y).sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", ["ref", "auto"])
def test_gradients(impl):
    f = FILTERS["[1,3,3,1]"]
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    for up, down in [(2, 1), (1, 2), (2, 2)]:
        assert torch.autograd.gradcheck(lambda t: upfirdn2d(t, f, up=up, down=down, padding=1, impl=impl), (x,))
        assert torch.autograd.gradgradcheck(lambda t: upfirdn2d(t, f, up=up, down=down, padding=1, impl=impl), (x,))


def test_resampling_helpers_keep_sizes_and_constant_signals():
    f = setup_filter([1, 3, 3, 1])
    x = torch.ones(1, 1, 8, 8)
    up = upsample2d(x, f)
    assert up.shape == (1, 1, 16, 16)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12))  # unit DC gain away from the border
    down = downsample2d(x, f)
    assert down.shape == (1, 1, 4, 4)
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones(1, 1, 2, 2))
    assert filter2d(x, f).shape == x.shape


def test_channels_last_inputs_give_the_same_result():
    f = FILTERS["[1,3,3,1]"]
    x = torch.randn(2, 5, 6, 6)
    for kwargs in ({"up": 2, "padding": [2, 1, 2, 1]}, {"down": 2, "padding": 1}):
        expected = upfirdn2d(x, f, impl="ref", **kwargs)
        torch.testing.assert_close(upfirdn2d(x.contiguous(memory_format=torch.channels_last), f, **kwargs), expected)


def test_setup_filter():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    torch.testing.assert_close(f.sum(), torch.tensor(1.0))
    assert setup_filter([1] * 8).shape == (8,)  # long 1-D filters stay separable
    torch.testing.assert_close(setup_filter([1, 3, 3, 1], gain=4).sum(), torch.tensor(4.0))
    assert setup_filter(None).shape == (1, 1)


def test_bad_arguments():
    x = torch.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="scaling"):
        upfirdn2d(x, None, up=0)
    with pytest.raises(ValueError, match="padding"):
        upfirdn2d(x, None, padding=[1, 2, 3])
    with pytest.raises(ValueError, match="constant float tensor"):
        upfirdn2d(x, torch.ones(2, 2, requires_grad=True))
    with pytest.raises(ValueError, match="would be empty"):
        upfirdn2d(x, setup_filter([1] * 8))
    with pytest.raises(ValueError, match="impl"):
        upfirdn2d(x, None, impl="fast")  # type: ignore[arg-type]
