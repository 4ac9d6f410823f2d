"""Bias, activation, gain and clamp in one op, as in NVlabs' ``torch_utils/ops/bias_act.py``.

``bias_act(x, b, act="lrelu", gain=g, clamp=c)`` computes
``clamp(act(x + b) * g, -c, c)``, with ``b`` broadcast along dimension
``dim``. StyleGAN2 uses ``lrelu`` (slope 0.2) with gain √2, which keeps
the activations near unit variance (NVlabs' ``activation_funcs`` defaults).

Implementations (``impl``): ``"ref"`` computes the steps one by one (the
reference algorithm); ``"auto"`` uses the CUDA kernel (``csrc/bias_act.cu``)
for CUDA tensors, otherwise the same steps with fewer temporaries (the gain
folded into the bias add for the piecewise-linear activations, which they
commute with, and the activation applied in place).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from . import extensions

Impl = Literal["auto", "ref", "cuda"]


@dataclasses.dataclass(frozen=True)
class Activation:
    """An activation function and the defaults `bias_act` uses with it.

    :param func: ``func(x, alpha) -> y``.
    :param default_alpha: shape parameter (the negative slope of ``lrelu``).
    :param default_gain: output gain keeping unit variance.
    :param cuda_index: its number in the CUDA kernel.
    :param derivative_from: which tensor the kernel's gradient reads: ``"y"``
        (the output; piecewise-linear and saturating functions) or ``"x"``.
    :param piecewise_linear: zero second derivative, and ``f(g * x) = g * f(x)`` for ``g > 0``.
    """

    func: Callable[[Tensor, float], Tensor]
    default_alpha: float
    default_gain: float
    cuda_index: int
    derivative_from: Literal["x", "y"]
    piecewise_linear: bool = False


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x, _: x, 0.0, 1.0, 1, "y", piecewise_linear=True),
    "relu": Activation(lambda x, _: F.relu(x), 0.0, math.sqrt(2), 2, "y", piecewise_linear=True),
    "lrelu": Activation(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2), 3, "y", piecewise_linear=True),
    "tanh": Activation(lambda x, _: torch.tanh(x), 0.0, 1.0, 4, "y"),
    "sigmoid": Activation(lambda x, _: torch.sigmoid(x), 0.0, 1.0, 5, "y"),
    "elu": Activation(lambda x, _: F.elu(x), 0.0, 1.0, 6, "y"),
    "selu": Activation(lambda x, _: F.selu(x), 0.0, 1.0, 7, "y"),
    "softplus": Activation(lambda x, _: F.softplus(x), 0.0, 1.0, 8, "y"),
    "swish": Activation(lambda x, _: torch.sigmoid(x) * x, 0.0, math.sqrt(2), 9, "x"),
}


def bias_act(
    x: Tensor,
    b: Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
    impl: Impl = "auto",
) -> Tensor:
    """``clamp(act(x + b) * gain, -clamp, clamp)``.

    :param x: activations of any shape.
    :param b: bias of shape ``(x.shape[dim],)``, same dtype as ``x``, or ``None``.
    :param dim: the dimension of ``x`` that ``b`` runs along.
    :param act: a key of `ACTIVATIONS`.
    :param alpha: shape parameter; ``None`` for the activation's default.
    :param gain: output scale; ``None`` for the activation's default (√2 for ``lrelu``).
    :param clamp: clamp the result to ``[-clamp, clamp]``; ``None`` disables.
    :returns: a tensor like ``x``. Differentiable (any order on the PyTorch
        paths, first and second order with the CUDA kernel).
    """
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; choose from {', '.join(ACTIVATIONS)}")
    if clamp is not None and clamp < 0:
        raise ValueError(f"clamp must be >= 0 or None, got {clamp}")
    spec = ACTIVATIONS[act]
    alpha = float(spec.default_alpha if alpha is None else alpha)
    gain = float(spec.default_gain if gain is None else gain)
    if b is not None and (b.ndim != 1 or not 0 <= dim < x.ndim or b.shape[0] != x.shape[dim]):
        raise ValueError(f"bias of shape {tuple(b.shape)} does not fit dimension {dim} of {tuple(x.shape)}")
    kernel = extensions.kernel_for(x, impl, "bias_act")
    if kernel is not None:
        return _cuda_function(kernel, dim, act, alpha, gain, clamp).apply(x, b)
    if impl == "ref":
        return _bias_act_ref(x, b, dim, spec, alpha, gain, clamp)
    return _bias_act_lean(x, b, dim, spec, alpha, gain, clamp)


def _broadcast(b: Tensor, x: Tensor, dim: int) -> Tensor:
    return b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])


def _bias_act_ref(
    x: Tensor, b: Tensor | None, dim: int, spec: Activation, alpha: float, gain: float, clamp: float | None
) -> Tensor:
    """The reference algorithm: add, activate, scale, clamp."""
    if b is not None:
        x = x + _broadcast(b, x, dim)
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _bias_act_lean(
    x: Tensor, b: Tensor | None, dim: int, spec: Activation, alpha: float, gain: float, clamp: float | None
) -> Tensor:
    """The reference steps with one temporary instead of three for piecewise-linear activations.

    ``lrelu(v) * g == lrelu(v * g)`` for ``g > 0``, so the gain joins the
    bias add and the activation runs in place on that fresh tensor (autograd
    then keeps only its output). Other activations take the reference path.
    """
    if not spec.piecewise_linear or gain <= 0:
        return _bias_act_ref(x, b, dim, spec, alpha, gain, clamp)
    if b is not None:
        x = x + _broadcast(b, x, dim)
        if gain != 1:
            x.mul_(gain)
    elif gain != 1:
        x = x * gain
    elif spec.cuda_index != 1:
        x = x.clone()  # never modify the caller's tensor
    if spec.cuda_index == 2:
        x = F.relu_(x)
    elif spec.cuda_index == 3:
        x = F.leaky_relu_(x, alpha)
    if clamp is not None:
        x = x.clamp(-clamp, clamp)  # out of place: the activation saved its output for backward
    return x


# -- CUDA ------------------------------------------------------------------------------


def second_derivative(act: str, x: Tensor, alpha: float) -> Tensor:
    """``act''(x)`` for the smooth activations (zero for the piecewise-linear ones)."""
    if ACTIVATIONS[act].piecewise_linear:
        return torch.zeros_like(x)
    with torch.enable_grad():
        probe = x.detach().requires_grad_(True)
        (first,) = torch.autograd.grad(ACTIVATIONS[act].func(probe, alpha).sum(), probe, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), probe)
    return second


_EMPTY: dict[torch.device, Tensor] = {}


def _empty(like: Tensor) -> Tensor:
    if like.device not in _EMPTY:
        _EMPTY[like.device] = torch.empty(0, device=like.device)
    return _EMPTY[like.device].to(like.dtype)


_cuda_functions: dict[tuple[Any, ...], type[torch.autograd.Function]] = {}


def _cuda_function(
    kernel: Any, dim: int, act: str, alpha: float, gain: float, clamp: float | None
) -> type[torch.autograd.Function]:
    """Autograd functions around the kernel: forward (mode 0) and gradient (mode 1)."""
    key = (dim, act, alpha, gain, clamp)
    if key in _cuda_functions:
        return _cuda_functions[key]
    spec = ACTIVATIONS[act]
    clamp_value = -1.0 if clamp is None else float(clamp)
    plain = act == "linear" and gain == 1 and clamp is None

    def run(x: Tensor, b: Tensor, xref: Tensor, yref: Tensor, mode: int) -> Tensor:
        return kernel.bias_act(x, b, xref, yref, mode, dim, spec.cuda_index, alpha, gain, clamp_value)

    class BiasActCuda(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Tensor, b: Tensor | None) -> Tensor:  # type: ignore[override]
            channels_last = x.ndim == 4 and x.stride(1) == 1 and x.shape[1] > 1
            layout = torch.channels_last if channels_last else torch.contiguous_format
            x = x.contiguous(memory_format=layout)
            bias = b.contiguous() if b is not None else _empty(x)
            y = x if plain and b is None else run(x, bias, _empty(x), _empty(x), 0)
            ctx.layout = layout
            ctx.save_for_backward(x if spec.derivative_from == "x" or not spec.piecewise_linear else _empty(x), bias, y)
            return y

        @staticmethod
        def backward(ctx: Any, dy: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
            x, bias, y = ctx.saved_tensors
            dy = dy.contiguous(memory_format=ctx.layout)
            dx = dy if plain else BiasActCudaGrad.apply(dy, x, bias, y)
            db = dx.sum([i for i in range(dx.ndim) if i != dim]) if ctx.needs_input_grad[1] else None
            return (dx if ctx.needs_input_grad[0] else None), db

    class BiasActCudaGrad(torch.autograd.Function):
        """``dx = dy * act'(x + b) * gain`` (zero where the output was clamped)."""

        @staticmethod
        def forward(ctx: Any, dy: Tensor, x: Tensor, bias: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
            ctx.save_for_backward(dy, x, bias, y)
            return run(dy, bias, x, y, 1)

        @staticmethod
        def backward(ctx: Any, d_dx: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
            dy, x, bias, y = ctx.saved_tensors
            d_dy = BiasActCudaGrad.apply(d_dx, x, bias, y) if ctx.needs_input_grad[0] else None
            d_x = d_bias = None
            if not spec.piecewise_linear and (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):
                pre = x + _broadcast(bias, x, dim) if bias.numel() else x
                d_x = d_dx * dy * second_derivative(act, pre, alpha) * gain
                if clamp is not None:
                    d_x = d_x * (y.abs() < clamp)
                if ctx.needs_input_grad[2] and bias.numel():
                    d_bias = d_x.sum([i for i in range(d_x.ndim) if i != dim])
            return d_dy, d_x, d_bias, None

    _cuda_functions[key] = BiasActCuda
    return BiasActCuda
