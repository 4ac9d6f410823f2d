"""The default synthesis path: NVlabs' arithmetic with fewer passes over memory.

Same function as `reference` (equal up to float rounding), arranged for CPU
throughput and for gradients that need little memory:

- activations stay in ``channels_last`` layout, which the oneDNN convolutions
  run much faster;
- a synthesis layer (modulated convolution, noise, bias, leaky ReLU, clamp)
  is one autograd function, `_ModulatedLayer`. Its forward either folds the
  styles, demodulation and gain into per-sample weights (one sample) or
  scales the activations around one convolution over the batch, and finishes
  in place: the bias rides in the convolution, the gain is folded in front of
  the leaky ReLU (``lrelu(v) * g == lrelu(v * g)``), noise is added, the
  activation and clamp run in place. Its backward recomputes what it needs
  from the layer's input and output, which autograd keeps anyway (each is
  the neighbouring layer's output), so no other high-resolution tensor is
  saved;
- upsampling layers with few channels fold the [1, 3, 3, 1] filter into the
  3x3 kernel (a 6x6 kernel of stride 2), so the filter never runs as a
  separate pass over the largest feature maps; wider layers keep the
  transposed convolution followed by the filter, which costs fewer FLOPs;
- ToRGB is a batched matrix product on the channels-last features.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from lswap_core.ops.upfirdn2d import upsample2d

LRELU_SLOPE = 0.2
FOLD_FILTER_MAX_CHANNELS = 64  # upsampling layers this narrow fold the FIR filter into their kernel
UP = 2


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
) -> Tensor:
    """``clamp(lrelu(modconv(x, weight, styles) + noise + bias) * gain)``.

    :param x: ``(N, I, H, W)`` features.
    :param styles: ``(N, I)``.
    :param weight: ``(O, I, 3, 3)``.
    :param bias: ``(O,)``.
    :param noise: broadcastable to ``(N, O, H', W')`` (already scaled by its strength), or ``None``.
    :param up: 1, or 2 to upsample with ``resample_filter`` (2-D, from `setup_filter`).
    :returns: ``(N, O, H', W')`` in channels-last layout.
    """
    if up not in (1, UP):
        raise ValueError(f"synthesis layers upsample by 1 or 2, not {up}")
    # Demodulation: 1 / |W * s| per output channel, as sum_i s_i^2 * sum_k W_oik^2 (NVlabs sums (W s)^2).
    dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
    x = x.contiguous(memory_format=torch.channels_last)
    return _ModulatedLayer.apply(x, styles, dcoefs, weight, bias, noise, up, resample_filter, gain, clamp)


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


def _fold_filter(transposed_weight: Tensor, resample_filter: Tensor) -> Tensor:
    """The 3x3 transposed-convolution kernel followed by the filter, as one kernel.

    :param transposed_weight: ``(..., 3, 3)`` kernels of ``conv_transpose2d``.
    :returns: ``(..., 6, 6)`` kernels, used with stride 2 and padding 2.
    """
    lead = transposed_weight.shape[:-2]
    taps = (resample_filter * UP**2).flip([0, 1]).to(transposed_weight.dtype)
    padded = F.pad(transposed_weight.reshape(-1, 1, 3, 3), [3, 3, 3, 3])
    return F.conv2d(padded, taps[None, None]).reshape(*lead, 6, 6)


class _Plan:
    """How one layer call runs: per-sample weights or scaled activations, folded filter or not."""

    def __init__(self, x: Tensor, weight: Tensor, up: int) -> None:
        self.per_sample_weights = x.shape[0] == 1
        self.fold = up == UP and min(weight.shape[0], weight.shape[1]) <= FOLD_FILTER_MAX_CHANNELS


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None, up: int, fold: bool, taps: Tensor | None, f: Tensor) -> Tensor:
    """The layer's convolution (with upsampling) of ``x`` by ``weight`` ``(O, I, 3, 3)``, plus ``bias``."""
    if up == 1:
        return F.conv2d(x, weight, bias, padding=1)
    transposed = weight.transpose(0, 1)
    if fold:
        return F.conv_transpose2d(x, _fold_filter(transposed, f), bias, stride=UP, padding=2)
    y = F.conv_transpose2d(x, transposed, stride=UP)
    assert taps is not None
    return F.conv2d(y, taps, bias, padding=1, groups=taps.shape[0])


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
        bias: Tensor,
        noise: Tensor | None,
        up: int,
        f: Tensor,
        gain: float,
        clamp: float | None,
    ) -> Tensor:
        n = x.shape[0]
        plan = _Plan(x, weight, up)
        taps = None if plan.fold or up == 1 else _fir_taps(f, weight.shape[0], x)
        scale = dcoefs * gain  # (N, O)
        if plan.per_sample_weights:
            w = weight * styles.reshape(1, -1, 1, 1) * scale.reshape(-1, 1, 1, 1)
            out = _linear(x, w, bias * gain, up, plan.fold, taps, f)
        else:
            out = _linear(x * styles.reshape(n, -1, 1, 1), weight, None, up, plan.fold, taps, f)
            out.mul_(scale.reshape(n, -1, 1, 1)).add_((bias * gain).reshape(1, -1, 1, 1))
        if noise is not None:
            out.add_(noise * gain)
        F.leaky_relu_(out, LRELU_SLOPE)
        if clamp is not None:
            out.clamp_(-clamp, clamp)
        ctx.save_for_backward(x, styles, dcoefs, weight, bias, noise, out)
        ctx.layer = (up, f, gain, clamp, plan.fold, noise.shape if noise is not None else None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, styles, dcoefs, weight, bias, noise, out = ctx.saved_tensors
        up, f, gain, clamp, fold, noise_shape = ctx.layer
        need_x, need_styles, need_dcoefs, need_weight, need_bias, need_noise = ctx.needs_input_grad[:6]
        n = x.shape[0]

        clamped = None if clamp is None else (out >= clamp).logical_or_(out <= -clamp)
        if need_dcoefs:
            grad_out_dot = grad * out  # dL/da * a
            if clamped is not None:
                grad_out_dot.masked_fill_(clamped, 0)
            sum_grad_out = grad_out_dot.sum(dim=[2, 3])
            del grad_out_dot
        # dL/dpre: the leaky ReLU slope times the gain, zero where clamped.
        g = torch.ops.aten.leaky_relu_backward(grad, out, LRELU_SLOPE, True).mul_(gain)
        if clamped is not None:
            g.masked_fill_(clamped, 0)
            del clamped

        grad_bias = g.sum(dim=[0, 2, 3]) if need_bias else None
        grad_noise = None
        if need_noise:
            grad_noise = g.sum(dim=1, keepdim=True)
            grad_noise = grad_noise.sum(dim=0, keepdim=True) if noise_shape[0] == 1 or len(noise_shape) < 4 else grad_noise
            grad_noise = grad_noise.reshape(noise_shape)
        grad_dcoefs = None
        if need_dcoefs:
            sum_g = g.sum(dim=[2, 3])  # (N, O)
            dot = sum_grad_out - bias.reshape(1, -1) * sum_g
            if noise is not None:
                noise_map = noise.reshape(-1, noise.shape[-2] * noise.shape[-1])  # (1 or N, HW)
                g_rows = g.permute(0, 2, 3, 1).reshape(n, -1, g.shape[1])  # (N, HW, O), a view
                dot = dot - torch.bmm(noise_map.unsqueeze(1).expand(n, -1, -1), g_rows).squeeze(1)
            grad_dcoefs = dot / dcoefs

        if not (need_x or need_styles or need_weight):
            return None, None, grad_dcoefs, None, grad_bias, grad_noise, None, None, None, None
        g.mul_(dcoefs.reshape(n, -1, 1, 1))  # dL/dy
        taps = None if fold or up == 1 else _fir_taps(f, weight.shape[0], g)
        filtered = None  # dL/d(transposed-convolution output), reused for the weight gradient
        if up == 1:
            grad_xs = F.conv_transpose2d(g, weight, padding=1)
        elif fold:
            grad_xs = F.conv2d(g, _fold_filter(weight.transpose(0, 1), f), stride=UP, padding=2)
        else:
            filtered = F.conv_transpose2d(g, taps, padding=1, groups=taps.shape[0])
            grad_xs = F.conv2d(filtered, weight.transpose(0, 1), stride=UP)

        grad_weight = None
        if need_weight:
            xs = x * styles.reshape(n, -1, 1, 1)
            grad_weight = _weight_gradient(xs, g, filtered, weight, up, fold, f)
            del xs
        del g, filtered
        grad_styles = (grad_xs * x).sum(dim=[2, 3]) if need_styles else None
        grad_x = grad_xs.mul_(styles.reshape(n, -1, 1, 1)) if need_x else None
        return grad_x, grad_styles, grad_dcoefs, grad_weight, grad_bias, grad_noise, None, None, None, None


def _weight_gradient(
    xs: Tensor, grad_y: Tensor, filtered: Tensor | None, weight: Tensor, up: int, fold: bool, f: Tensor
) -> Tensor:
    """``dL/dW`` of the layer's convolution, given its scaled input and ``dL/dy``."""
    if up == 1:
        return torch.nn.grad.conv2d_weight(xs, weight.shape, grad_y, padding=1)
    if fold:
        with torch.enable_grad():
            w = weight.detach().requires_grad_(True)
            folded = _fold_filter(w.transpose(0, 1), f)
        # conv_transpose2d(xs, K) is the adjoint of conv2d(., K): its kernel gradient is conv2d's.
        grad_folded = torch.nn.grad.conv2d_weight(grad_y, folded.shape, xs, stride=UP, padding=2)
        (grad_w,) = torch.autograd.grad(folded, w, grad_folded)
        return grad_w
    assert filtered is not None
    return torch.nn.grad.conv2d_weight(filtered, (weight.shape[1], weight.shape[0], 3, 3), xs, stride=UP).transpose(0, 1)
