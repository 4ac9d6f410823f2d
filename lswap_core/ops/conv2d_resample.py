"""A 2-D convolution with FIR up- or downsampling, as in NVlabs' ``torch_utils/ops/conv2d_resample.py``.

Mathematically: upsample ``x`` by ``up`` with filter ``f`` (zero-stuffing,
padding, filtering), convolve with ``w``, then downsample by ``down`` with
``f``. Padding is applied once, at the start, with respect to the upsampled
image. The order of the cheap and expensive steps is chosen so that no
convolution runs on a zero-stuffed image: upsampling uses a transposed
convolution with stride ``up`` followed by the filter, downsampling filters
first and then uses a strided convolution, and 1x1 kernels resample on the
smaller side.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .upfirdn2d import Impl, Padding, filter_size, parse_padding, upfirdn2d


def conv2d_resample(
    x: Tensor,
    w: Tensor,
    f: Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: Padding = 0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
    impl: Impl = "auto",
) -> Tensor:
    """Convolve ``x`` with ``w``, resampling by ``up`` / ``down`` with filter ``f``.

    :param x: ``(N, in_channels, H, W)``.
    :param w: ``(out_channels, in_channels // groups, kh, kw)``, same dtype as ``x``.
    :param f: filter from `setup_filter` (``None``: identity).
    :param up: integer upsampling factor.
    :param down: integer downsampling factor.
    :param padding: with respect to the upsampled image, as for `upfirdn2d`.
    :param groups: as for ``torch.nn.functional.conv2d``.
    :param flip_weight: ``True`` correlates with ``w`` (``conv2d``'s
        convention), ``False`` convolves.
    :param flip_filter: ``True`` correlates with ``f``.
    :param impl: implementation of the `upfirdn2d` steps.
    :returns: ``(N, out_channels, H', W')``.
    """
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d_resample takes 4-D x and w, got {tuple(x.shape)}, {tuple(w.shape)}")
    if w.dtype != x.dtype:  # mixed precision: an activation in bf16 or fp16 meets float32 weights
        w = w.to(x.dtype)
    if not (isinstance(up, int) and isinstance(down, int) and up >= 1 and down >= 1 and groups >= 1):
        raise ValueError("up, down and groups must be integers >= 1")
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)

    # Padding of the resampling filters, on top of the requested padding.
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = [px0, px1, py0, py1]

    if kw == 1 and kh == 1 and down > 1 and up == 1:  # 1x1: shrink first
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter, impl=impl)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:  # 1x1: convolve on the small image
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up**2, flip_filter=flip_filter, impl=impl)
    if down > 1 and up == 1:  # filter, then strided convolution
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, impl=impl)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:  # transposed convolution with stride `up`, then filter
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0, px1 = px0 - (kw - 1), px1 - (kw - up)
        py0, py1 = py0 - (kh - 1), py1 - (kh - up)
        # Let the transposed convolution do the symmetric part of any cropping.
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = _conv(x, w, stride=up, padding=(pyt, pxt), groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(
            x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up**2, flip_filter=flip_filter, impl=impl
        )
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter, impl=impl)
        return x
    if up == 1 and down == 1 and px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=(py0, px0), groups=groups, flip_weight=flip_weight)
    # General case: pad (no upsampling left here), convolve, downsample.
    x = upfirdn2d(x, None, padding=pad, impl=impl)
    x = _conv(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter, impl=impl)
    return x


def _conv(
    x: Tensor,
    w: Tensor,
    *,
    stride: int = 1,
    padding: tuple[int, int] | int = 0,
    groups: int = 1,
    transpose: bool = False,
    flip_weight: bool = True,
) -> Tensor:
    if not flip_weight:  # conv2d correlates; convolving means flipping the kernel
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)

