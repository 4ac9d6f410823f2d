"""The default synthesis path: NVlabs' arithmetic with fewer passes over memory.

Same function as `reference` (equal up to float rounding), arranged for CPU
throughput and for gradients that need little memory. On a CPU the largest
costs after the convolutions themselves are passes over the big feature maps,
and above all the page faults of every freshly allocated one, so:

- activations stay in ``channels_last`` layout, in which the oneDNN
  convolutions run much faster;
- a synthesis layer (modulated convolution, noise, bias, leaky ReLU, clamp)
  is one autograd function, `_ModulatedLayer`. Its forward modulates the
  smaller operand: for one sample at high resolution the styles,
  demodulation and gain go into the weights and the bias into the
  convolution; otherwise (small maps, or a batch) the activations are
  scaled around one convolution with the shared weights. Noise, the
  activation and the clamp then run in place (``lrelu(v) * g ==
  lrelu(v * g)``): one new tensor per layer, two when upsampling (the
  transposed convolution, then the [1, 3, 3, 1] filter);
- the synthesis network runs high-resolution blocks one sample at a time
  (`PER_SAMPLE_FROM`), where per-sample weights beat scaled activations,
  and the small low-resolution blocks batched;
- the backward recomputes what it needs from the layer's input and output,
  which autograd keeps anyway (each is a neighbouring layer's output), so no
  other high-resolution tensor is saved; its reductions run in slices to
  avoid full-size temporaries;
- ToRGB is a batched matrix product on the channels-last features.

Folding the filter into a 6x6 transposed-convolution kernel was measured and
not kept: it ties at best (64 to 32 channels, one sample) and loses
elsewhere, in both directions.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from lswap_core.ops.upfirdn2d import upsample2d

LRELU_SLOPE = 0.2
UP = 2
PER_SAMPLE_FROM = 128  # blocks at this resolution and above run one sample at a time
REDUCTION_SLICE_BYTES = 8 << 20  # backward reductions work on slices of about this size
LOW_PRECISION = (torch.bfloat16, torch.float16)  # autocast's dtypes: their backward runs in float32


def kernel_norms(weight: Tensor) -> Tensor:
    """Squared norms of the 3x3 kernels, ``(O, I)``: the weights' part of the demodulation."""
    return torch.linalg.vector_norm(weight, dim=(2, 3)).square()


def synthesis_layer(
    x: Tensor,
    styles: Tensor,
    weight: Tensor,
    bias: Tensor,
    noise: Tensor | None,
    *,
    up: int,
    resample_filter: Tensor,
    gain: float,
    clamp: float | None,
    norms: Tensor | None = None,
    transposed: Tensor | None = None,
) -> Tensor:
    """``clamp(lrelu(modconv(x, weight, styles) + noise + bias) * gain)``.

    :param x: ``(N, I, H, W)`` features.
    :param styles: ``(N, I)``.
    :param weight: ``(O, I, 3, 3)``.
    :param bias: ``(O,)``.
    :param noise: broadcastable to ``(N, O, H', W')`` (already scaled by its strength), or ``None``.
    :param up: 1, or 2 to upsample with ``resample_filter`` (2-D, from `setup_filter`).
    :param norms: `kernel_norms` of ``weight`` when the caller has them.
    :param transposed: ``weight.transpose(0, 1)`` stored contiguously, when the caller has it (upsampling layers).
    :returns: ``(N, O, H', W')`` in channels-last layout.
    """
    if up not in (1, UP):
        raise ValueError(f"synthesis layers upsample by 1 or 2, not {up}")
    # Demodulation: 1 / |W * s| per output channel, as sum_i s_i^2 * sum_k W_oik^2 (NVlabs sums (W s)^2).
    dcoefs = (styles.square() @ (kernel_norms(weight) if norms is None else norms).t() + 1e-8).rsqrt()
    x = x.contiguous(memory_format=torch.channels_last)
    if up == UP and transposed is None:
        transposed = weight.transpose(0, 1)
    return _ModulatedLayer.apply(x, styles, dcoefs, weight, transposed, bias, noise, up, resample_filter, gain, clamp)


def to_rgb(x: Tensor, styles: Tensor, weight: Tensor, bias: Tensor, *, clamp: float | None) -> Tensor:
    """Modulated 1x1 convolution without demodulation, as one batched matrix product.

    :param x: ``(N, I, H, W)``; ``styles``: ``(N, I)`` (weight gain included); ``weight``: ``(3, I, 1, 1)``.
    :returns: ``(N, 3, H, W)`` in channels-last layout.
    """
    n, channels, height, width = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(n, height * width, channels)  # a view for channels-last x
    per_sample = weight.reshape(1, -1, channels) * styles.unsqueeze(1)  # (N, 3, I)
    out = torch.baddbmm(bias.reshape(1, 1, -1), rows, per_sample.transpose(1, 2))
    out = out.reshape(n, height, width, -1).permute(0, 3, 1, 2)
    return out.clamp(-clamp, clamp) if clamp is not None else out


def upsample_add(img: Tensor, rgb: Tensor, resample_filter: Tensor) -> Tensor:
    """The skip connection: ``img`` upsampled by 2 with the FIR filter, plus this block's ``rgb``."""
    return upsample2d(img, resample_filter).add_(rgb)


# -- the layer ---------------------------------------------------------------------------


def _fir_taps(resample_filter: Tensor, channels: int, like: Tensor) -> Tensor:
    """Depthwise correlation weights of the upsampling filter with its gain of 4: ``(channels, 1, fh, fw)``."""
    taps = (resample_filter * UP**2).flip([0, 1]).to(like.dtype)
    return taps[None, None].expand(channels, 1, *taps.shape).contiguous()


def _scaled_kernels(weight: Tensor, coefs: Tensor, up: int) -> Tensor:
    """``weight * coefs[..., None, None]`` for one sample, laid out as its convolution wants it.

    Upsampling layers get the ``(I, O, 3, 3)`` kernels of ``conv_transpose2d``
    written contiguously, which saves the convolution a copy.
    """
    if up == 1:
        return weight * coefs.reshape(*coefs.shape, 1, 1)
    out = torch.empty((weight.shape[1], weight.shape[0], *weight.shape[2:]), dtype=weight.dtype, device=weight.device)
    return torch.mul(weight.transpose(0, 1), coefs.t().reshape(*out.shape[:2], 1, 1), out=out)


def _convolve(x: Tensor, kernels: Tensor, bias: Tensor | None, up: int, taps: Tensor | None) -> Tensor:
    """The layer's convolution of ``x`` (upsampling when ``up`` is 2), plus ``bias``.

    Upsampling as NVlabs' ``conv2d_resample``: a stride-2 transposed
    convolution, then the filter with padding 1 (a depthwise convolution,
    which also adds the bias).

    :param kernels: ``(O, I, 3, 3)``, or when upsampling ``(I, O, 3, 3)``.
    """
    if up == 1:
        return F.conv2d(x, kernels, bias, padding=1)
    assert taps is not None
    y = F.conv_transpose2d(x, kernels, stride=UP)
    return F.conv2d(y, taps, bias, padding=1, groups=taps.shape[0])


def _flat(t: Tensor) -> Tensor:
    """All elements of a dense tensor as a 1-D view, in memory order (full reductions on it are fast)."""
    if t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return t.permute(0, 2, 3, 1).reshape(-1)
    return t.reshape(-1)


def _sum_hw_product(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum((2, 3))``, ``(N, C)``, in slices of rows when large.

    A full-size product of the largest maps costs more in page faults than
    in arithmetic; slices stay in memory the allocator reuses.
    """
    row_bytes = a[:, :, :1].numel() * a.element_size()
    rows = max(1, REDUCTION_SLICE_BYTES // row_bytes)
    if rows >= a.shape[2]:
        return (a * b).sum(dim=[2, 3])
    total = (a[:, :, :rows] * b[:, :, :rows]).sum(dim=[2, 3])
    for row in range(rows, a.shape[2], rows):
        total.add_((a[:, :, row : row + rows] * b[:, :, row : row + rows]).sum(dim=[2, 3]))
    return total


class _ModulatedLayer(torch.autograd.Function):
    """Modulated convolution + noise + bias + leaky ReLU + clamp, with a lean backward.

    Notation: ``y = conv(x * s, W)``, ``pre = y * d + noise + b``,
    ``a = clamp(lrelu(pre * g))`` (the output). The backward needs ``x`` and
    ``a`` only: where ``a`` is not clamped, ``dL/dpre * pre = dL/da * a``
    (the leaky ReLU is linear on each side), which gives
    ``dL/dd = sum(dL/dpre * y) = (sum(dL/da * a) - sum(dL/dpre * noise) - b * sum(dL/dpre)) / d``.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        styles: Tensor,
        dcoefs: Tensor,
        weight: Tensor,
        transposed: Tensor | None,
        bias: Tensor,
        noise: Tensor | None,
        up: int,
        f: Tensor,
        gain: float,
        clamp: float | None,
    ) -> Tensor:
        n = x.shape[0]
        taps = _fir_taps(f, weight.shape[0], x) if up == UP else None
        scale = dcoefs * gain  # (N, O)
        # Modulate whichever is smaller: one sample's weights (O x I x 3 x 3) or its activations (I x H x W).
        if n == 1 and weight.shape[0] * weight.shape[2] * weight.shape[3] <= x.shape[2] * x.shape[3]:
            # The styles, demodulation and gain go into the weights, the bias into the convolution.
            kernels = _scaled_kernels(weight, scale.reshape(-1, 1) * styles.reshape(1, -1), up)
            out = _convolve(x, kernels, bias * gain, up, taps)
        else:
            kernels = weight if up == 1 else transposed
            out = _convolve(x * styles.reshape(n, -1, 1, 1), kernels, None, up, taps)
            out.mul_(scale.reshape(n, -1, 1, 1)).add_((bias * gain).reshape(1, -1, 1, 1))
        if noise is not None:
            out.add_(noise * gain)
        F.leaky_relu_(out, LRELU_SLOPE)
        clamped_any = False
        if clamp is not None:
            low, high = torch.aminmax(_flat(out))
            clamped_any = bool(low < -clamp or high > clamp)  # rarely: conv_clamp guards against fp16 overflow
            if clamped_any:
                out.clamp_(-clamp, clamp)
        ctx.save_for_backward(x, styles, dcoefs, weight, transposed, bias, noise, out)
        ctx.layer = (up, f, gain, clamp if clamped_any else None, noise.shape if noise is not None else None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        # A backward called inside an autocast block (PTI tuning under --precision) must not have its own
        # convolutions cast: it computes in one dtype throughout.
        with torch.autocast(grad.device.type, enabled=False):
            return _ModulatedLayer._backward(ctx, grad)

    @staticmethod
    def _backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        saved = ctx.saved_tensors
        if grad.dtype in LOW_PRECISION or any(t is not None and t.dtype in LOW_PRECISION for t in saved):
            # Mixed precision (autocast): the backward runs in float32 on the saved low-precision
            # activations, so no product mixes dtypes and the reductions over pixels keep their accuracy.
            grad = grad.float()
            saved = tuple(t.float() if t is not None else None for t in saved)
        x, styles, dcoefs, weight, transposed, bias, noise, out = saved
        up, f, gain, clamp, noise_shape = ctx.layer
        need_x, need_styles, need_dcoefs, need_weight, _, need_bias, need_noise = ctx.needs_input_grad[:7]
        n = x.shape[0]

        clamped = None if clamp is None else (out >= clamp).logical_or_(out <= -clamp)
        if need_dcoefs:
            masked = grad if clamped is None else grad.masked_fill(clamped, 0)
            sum_grad_out = _sum_hw_product(masked, out)  # sum(dL/da * a)
            del masked
        # dL/dpre: the leaky ReLU slope times the gain, zero where clamped.
        g = torch.ops.aten.leaky_relu_backward(grad, out, LRELU_SLOPE, True).mul_(gain)
        if clamped is not None:
            g.masked_fill_(clamped, 0)
            del clamped

        grad_bias = g.sum(dim=[0, 2, 3]) if need_bias else None
        grad_noise = None
        if need_noise:  # sum over the dimensions the noise was broadcast along
            grad_noise = g.sum(dim=1, keepdim=True)
            if len(noise_shape) < 4 or noise_shape[0] == 1:
                grad_noise = grad_noise.sum(dim=0, keepdim=True)
            grad_noise = grad_noise.reshape(noise_shape)
        grad_dcoefs = None
        if need_dcoefs:
            dot = sum_grad_out - bias.reshape(1, -1) * g.sum(dim=[2, 3])
            if noise is not None:
                noise_rows = noise.reshape(-1, 1, noise.shape[-2] * noise.shape[-1]).expand(n, -1, -1)  # (N, 1, HW)
                g_rows = g.permute(0, 2, 3, 1).reshape(n, -1, g.shape[1])  # (N, HW, O), a view when channels-last
                dot = dot - torch.bmm(noise_rows, g_rows).squeeze(1)
            grad_dcoefs = dot / dcoefs

        if not (need_x or need_styles or need_weight):
            return None, None, grad_dcoefs, None, None, grad_bias, grad_noise, None, None, None, None
        g.mul_(dcoefs.reshape(n, -1, 1, 1))  # dL/dy
        taps = _fir_taps(f, weight.shape[0], g) if up == UP else None
        filtered = None  # dL/d(transposed-convolution output), kept for the weight gradient
        if up == 1:
            grad_xs = F.conv_transpose2d(g, weight, padding=1)
        else:
            filtered = F.conv_transpose2d(g, taps, padding=1, groups=weight.shape[0])
            grad_xs = F.conv2d(filtered, transposed, stride=UP)
        grad_weight = None
        if need_weight:
            # One sample: the kernel gradient is linear in x * s, so take it from x and scale it by s
            # (a small tensor) instead of allocating x * s at full size.
            xs = x if n == 1 else x * styles.reshape(n, -1, 1, 1)
            if up == 1:
                grad_weight = torch.nn.grad.conv2d_weight(xs, weight.shape, g, padding=1)
                if n == 1:
                    grad_weight.mul_(styles.reshape(1, -1, 1, 1))
            else:  # conv_transpose2d(xs, W^T) is the adjoint of conv2d(., W^T): the same kernel gradient
                grad_weight = torch.nn.grad.conv2d_weight(filtered, weight.transpose(0, 1).shape, xs, stride=UP)
                if n == 1:
                    grad_weight.mul_(styles.reshape(-1, 1, 1, 1))
                grad_weight = grad_weight.transpose(0, 1)
            del xs
        del g, filtered
        grad_styles = _sum_hw_product(grad_xs, x) if need_styles else None
        grad_x = grad_xs.mul_(styles.reshape(n, -1, 1, 1)) if need_x else None
        return grad_x, grad_styles, grad_dcoefs, grad_weight, None, grad_bias, grad_noise, None, None, None, None
