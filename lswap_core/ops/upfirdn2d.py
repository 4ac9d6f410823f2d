"""Upsample, FIR-filter and downsample batches of 2-D images.

The resampling op of StyleGAN2 (Karras et al., "Analyzing and Improving the
Image Quality of StyleGAN", 2020), with the semantics of NVlabs'
``torch_utils/ops/upfirdn2d.py``. For each channel:

1. upsample by inserting ``up - 1`` zeros after every pixel;
2. pad with zeros (negative padding crops);
3. convolve with the FIR filter ``f`` (a true convolution; ``flip_filter``
   makes it a correlation), keeping only outputs whose footprint lies inside
   the padded image;
4. keep every ``down``-th pixel.

Implementations (``impl``), all giving the same result within float rounding:

- ``"ref"``: the four steps literally, with a depthwise convolution for step 3
  (the reference algorithm);
- the PyTorch default for ``"auto"``: the same linear map as one strided
  depthwise convolution (``down > 1``) or transposed convolution (``up > 1``),
  which never materialises the zero-stuffed image; ``ref`` when both are > 1;
- ``"cuda"``: the kernel in ``csrc/upfirdn2d.cu``, compiled on first use.

Filters are float32 tensors from `setup_filter`: ``(taps,)`` for a separable
filter applied along both axes, ``(height, width)`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import extensions

Impl = Literal["auto", "ref", "cuda"]
Scaling = int | Sequence[int]
Padding = int | Sequence[int]


def parse_scaling(scaling: Scaling) -> tuple[int, int]:
    """``up`` or ``down`` as ``(x, y)`` factors >= 1."""
    sx, sy = (scaling, scaling) if isinstance(scaling, int) else tuple(scaling)
    if not (isinstance(sx, int) and isinstance(sy, int) and sx >= 1 and sy >= 1):
        raise ValueError(f"scaling factors must be integers >= 1, got {scaling!r}")
    return sx, sy


def parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """Padding as ``(x_before, x_after, y_before, y_after)`` from an int, ``[x, y]`` or four values."""
    if isinstance(padding, int):
        padding = [padding, padding]
    values = [int(p) for p in padding]
    if len(values) == 2:
        values = [values[0], values[0], values[1], values[1]]
    if len(values) != 4:
        raise ValueError(f"padding must have 1, 2 or 4 values, got {padding!r}")
    return values[0], values[1], values[2], values[3]


def filter_size(f: Tensor | None) -> tuple[int, int]:
    """``(width, height)`` in taps of a filter from `setup_filter` (``None`` is 1x1)."""
    if f is None:
        return 1, 1
    if not isinstance(f, Tensor) or f.ndim not in (1, 2):
        raise ValueError("the filter must be a 1-D (separable) or 2-D tensor")
    return int(f.shape[-1]), int(f.shape[0])


def setup_filter(
    f: Any,
    device: torch.device | str = "cpu",
    *,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1.0,
    separable: bool | None = None,
) -> Tensor:
    """A float32 FIR filter for `upfirdn2d`.

    :param f: taps (list, array or tensor): 1-D, 2-D, a scalar or ``None`` (identity).
    :param normalize: scale so that a constant signal keeps its level.
    :param flip_filter: flip the taps.
    :param gain: overall signal gain.
    :param separable: return a 1-D filter applied along both axes; by default
        only 1-D inputs of 8 taps or more are kept separable (as NVlabs does).
    :returns: ``(taps,)`` when separable, else ``(height, width)``.
    """
    f = torch.as_tensor(1 if f is None else f, dtype=torch.float32)
    if f.ndim > 2 or f.numel() == 0:
        raise ValueError(f"a filter has one or two dimensions and some taps, got shape {tuple(f.shape)}")
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if f.ndim != (1 if separable else 2):
        raise ValueError("a 2-D filter cannot be made separable")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d(
    x: Tensor,
    f: Tensor | None,
    up: Scaling = 1,
    down: Scaling = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
    impl: Impl = "auto",
) -> Tensor:
    """Pad, upsample, filter and downsample ``x``; see the module docstring.

    :param x: ``(N, C, H, W)`` float tensor.
    :param f: filter from `setup_filter`, or ``None`` for the identity.
    :param up: upsampling factor, int or ``(x, y)``.
    :param down: downsampling factor, int or ``(x, y)``.
    :param padding: with respect to the upsampled image: int, ``(x, y)`` or
        ``(x_before, x_after, y_before, y_after)``; negative values crop.
    :param flip_filter: correlate instead of convolve.
    :param gain: overall signal gain.
    :returns: ``(N, C, out_H, out_W)`` with
        ``out = (in * up + pad_before + pad_after - taps) // down + 1``.
    """
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"upfirdn2d takes (N, C, H, W) images, got {getattr(x, 'shape', type(x))}")
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    if f.ndim not in (1, 2) or not f.is_floating_point() or f.requires_grad:
        raise ValueError("the filter must be a constant float tensor of 1 or 2 dimensions (see setup_filter)")
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    pad = parse_padding(padding)
    fw, fh = filter_size(f)
    if x.shape[3] * upx + pad[0] + pad[1] < fw or x.shape[2] * upy + pad[2] + pad[3] < fh:
        raise ValueError(f"upfirdn2d of a {tuple(x.shape[2:])} image with a {fh}x{fw} filter would be empty")
    kernel = extensions.kernel_for(x, impl, "upfirdn2d")
    if kernel is not None:
        return _cuda_function(kernel, (upx, upy), (downx, downy), pad, flip_filter, gain).apply(x, f.to(torch.float32))
    if impl == "ref" or (max(upx, upy) > 1 and max(downx, downy) > 1):
        return _upfirdn2d_ref(x, f, (upx, upy), (downx, downy), pad, flip_filter, gain)
    return _upfirdn2d_strided(x, f, (upx, upy), (downx, downy), pad, flip_filter, gain)


def filter2d(
    x: Tensor, f: Tensor | None, padding: Padding = 0, flip_filter: bool = False, gain: float = 1.0, impl: Impl = "auto"
) -> Tensor:
    """Filter ``x`` keeping its size (plus ``padding`` with respect to the output)."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(
    x: Tensor,
    f: Tensor | None,
    up: Scaling = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
    impl: Impl = "auto",
) -> Tensor:
    """Upsample ``x`` by ``up`` with FIR filter ``f``; the output is ``up`` times the input size."""
    upx, upy = parse_scaling(up)
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=(upx, upy), padding=pad, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(
    x: Tensor,
    f: Tensor | None,
    down: Scaling = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
    impl: Impl = "auto",
) -> Tensor:
    """Downsample ``x`` by ``down`` with FIR filter ``f``; the output is the input size over ``down``."""
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=(downx, downy), padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


# -- PyTorch implementations -------------------------------------------------------------


def _taps(f: Tensor, x: Tensor, gain: float, flip: bool) -> Tensor:
    """The filter with its gain, in ``x``'s dtype, optionally flipped."""
    f = (f * (gain ** (f.ndim / 2))).to(dtype=x.dtype, device=x.device)
    return f.flip(list(range(f.ndim))) if flip else f


def _depthwise(f2d: Tensor, channels: int) -> Tensor:
    return f2d[None, None].expand(channels, 1, *f2d.shape).contiguous()


def _upfirdn2d_ref(
    x: Tensor,
    f: Tensor,
    up: tuple[int, int],
    down: tuple[int, int],
    pad: tuple[int, int, int, int],
    flip_filter: bool,
    gain: float,
) -> Tensor:
    """The reference algorithm: zero-stuff, pad, depthwise-convolve, subsample."""
    (upx, upy), (downx, downy) = up, down
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    x = x.reshape(n, c, h * upy, w * upx)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    # conv2d correlates; a convolution with f is a correlation with f flipped.
    taps = _taps(f, x, gain, flip=not flip_filter)
    if taps.ndim == 2:
        x = F.conv2d(x, _depthwise(taps, c), groups=c)
    else:
        x = F.conv2d(x, _depthwise(taps[None, :], c), groups=c)
        x = F.conv2d(x, _depthwise(taps[:, None], c), groups=c)
    return x[:, :, ::downy, ::downx]


def _upfirdn2d_strided(
    x: Tensor,
    f: Tensor,
    up: tuple[int, int],
    down: tuple[int, int],
    pad: tuple[int, int, int, int],
    flip_filter: bool,
    gain: float,
) -> Tensor:
    """One strided depthwise (transposed) convolution per separable pass, without zero-stuffing.

    Only for ``up == 1`` or ``down == 1`` on each axis pair.
    """
    c = x.shape[1]
    fw, fh = filter_size(f)
    (upx, upy), (downx, downy) = up, down
    px0, px1, py0, py1 = pad
    if upx == 1 and upy == 1:
        taps = _taps(f, x, gain, flip=not flip_filter)
        # conv2d pads symmetrically; pad (or crop) the difference first.
        sx, sy = max(min(px0, px1), 0), max(min(py0, py1), 0)
        if (px0 - sx, px1 - sx, py0 - sy, py1 - sy) != (0, 0, 0, 0):
            x = F.pad(x, [px0 - sx, px1 - sx, py0 - sy, py1 - sy])
        if taps.ndim == 2:
            return F.conv2d(x, _depthwise(taps, c), stride=(downy, downx), padding=(sy, sx), groups=c)
        x = F.conv2d(x, _depthwise(taps[None, :], c), stride=(1, downx), padding=(0, sx), groups=c)
        return F.conv2d(x, _depthwise(taps[:, None], c), stride=(downy, 1), padding=(sy, 0), groups=c)
    # A transposed convolution with stride `up` and no padding computes the
    # upsampled, filtered image with padding (taps - 1, taps - up); its own
    # padding argument crops symmetrically, and F.pad adjusts the rest.
    taps = _taps(f, x, gain, flip=flip_filter)
    cx0, cx1 = fw - 1 - px0, fw - upx - px1  # amounts to crop at each end (negative: pad)
    cy0, cy1 = fh - 1 - py0, fh - upy - py1
    sx, sy = max(min(cx0, cx1), 0), max(min(cy0, cy1), 0)
    if taps.ndim == 2:
        x = F.conv_transpose2d(x, _depthwise(taps, c), stride=(upy, upx), padding=(sy, sx), groups=c)
    else:
        x = F.conv_transpose2d(x, _depthwise(taps[None, :], c), stride=(1, upx), padding=(0, sx), groups=c)
        x = F.conv_transpose2d(x, _depthwise(taps[:, None], c), stride=(upy, 1), padding=(sy, 0), groups=c)
    if (cx0 - sx, cx1 - sx, cy0 - sy, cy1 - sy) != (0, 0, 0, 0):
        x = F.pad(x, [sx - cx0, sx - cx1, sy - cy0, sy - cy1])
    return x


# -- CUDA ------------------------------------------------------------------------------


def adjoint_padding(
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    filter_wh: tuple[int, int],
    up: tuple[int, int],
    down: tuple[int, int],
    pad: tuple[int, int, int, int],
) -> tuple[int, int, int, int]:
    """Padding that makes ``upfirdn2d(dy, f, up=down, down=up, flip_filter=not flip)`` the adjoint.

    :param in_size: ``(H, W)`` of the forward input; ``out_size`` of its output.
    """
    (ih, iw), (oh, ow), (fw, fh) = in_size, out_size, filter_wh
    (upx, upy), (downx, downy) = up, down
    px0, _, py0, _ = pad
    return (
        fw - px0 - 1,
        iw * upx - ow * downx + px0 - upx + 1,
        fh - py0 - 1,
        ih * upy - oh * downy + py0 - upy + 1,
    )


_cuda_functions: dict[tuple[Any, ...], type[torch.autograd.Function]] = {}


def _cuda_function(
    kernel: Any,
    up: tuple[int, int],
    down: tuple[int, int],
    pad: tuple[int, int, int, int],
    flip_filter: bool,
    gain: float,
) -> type[torch.autograd.Function]:
    """An autograd function running the kernel; its backward is the adjoint upfirdn2d, so all orders work."""
    key = (up, down, pad, flip_filter, gain)
    if key in _cuda_functions:
        return _cuda_functions[key]
    (upx, upy), (downx, downy) = up, down
    px0, px1, py0, py1 = pad

    class Upfirdn2dCuda(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Tensor, f: Tensor) -> Tensor:  # type: ignore[override]
            if f.ndim == 2:
                y = kernel.upfirdn2d(x, f, upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain)
            else:  # separable: one pass per axis, each with the square root of the gain
                root = float(np.sqrt(gain))
                y = kernel.upfirdn2d(x, f[None, :], upx, 1, downx, 1, px0, px1, 0, 0, flip_filter, root)
                y = kernel.upfirdn2d(y, f[:, None], 1, upy, 1, downy, 0, 0, py0, py1, flip_filter, root)
            ctx.save_for_backward(f)
            ctx.in_size = tuple(x.shape[2:])
            return y

        @staticmethod
        def backward(ctx: Any, dy: Tensor) -> tuple[Tensor | None, None]:  # type: ignore[override]
            (f,) = ctx.saved_tensors
            if not ctx.needs_input_grad[0]:
                return None, None
            adjoint_pad = adjoint_padding(ctx.in_size, tuple(dy.shape[2:]), filter_size(f), up, down, pad)
            dx = _cuda_function(kernel, down, up, adjoint_pad, not flip_filter, gain).apply(dy, f)
            return dx, None

    _cuda_functions[key] = Upfirdn2dCuda
    return Upfirdn2dCuda
