"""Modulated convolution, the reference algorithm.

NVlabs' ``modulated_conv2d`` (stylegan2-ada-pytorch, ``training/networks.py``)
built from the reference ops: weights scaled by the per-sample styles and
demodulated (Karras et al. 2020, section 2.2, equations 1 to 3), then either

- *fused*: the per-sample weights as one grouped convolution over the batch, or
- *non-fused*: the activations scaled by the styles, one convolution with the
  shared weights, and the result scaled by the demodulation coefficients.

This is the path `StyleGAN2Generator.synthesis` takes with
``impl="reference"`` (the reference ops: the baseline of ``lswap bench
generator``) and ``impl="kernels"`` (the project's CUDA kernels on a GPU).
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor

from lswap_core.ops.conv2d_resample import conv2d_resample


def modulated_conv2d(
    x: Tensor,
    weight: Tensor,
    styles: Tensor,
    *,
    noise: Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
    ops: Literal["ref", "auto"] = "ref",
) -> Tensor:
    """Convolve each sample with the weights modulated by its styles.

    :param x: ``(N, I, H, W)`` activations.
    :param weight: ``(O, I, kh, kw)`` shared weights.
    :param styles: ``(N, I)`` per-sample input channel scales.
    :param noise: added to the output (before the bias), broadcast to ``(N, O, H', W')``.
    :param up: upsampling factor (with ``resample_filter``).
    :param padding: with respect to the upsampled image.
    :param demodulate: rescale every output channel to unit expected norm.
    :param flip_weight: ``False`` convolves instead of correlating (used when upsampling).
    :param fused_modconv: grouped convolution with per-sample weights instead
        of scaling the activations.
    :param ops: the `lswap_core.ops` implementation: ``"ref"`` (PyTorch) or ``"auto"``
        (the CUDA kernels on CUDA tensors).
    :returns: ``(N, O, H', W')``.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if styles.shape != (batch, in_channels) or x.shape[1] != in_channels:
        raise ValueError(
            f"styles {tuple(styles.shape)} / input {tuple(x.shape)} do not fit weights {tuple(weight.shape)}"
        )

    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # (N, O, I, kh, kw)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (N, O)
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight, resample_filter, up=up, padding=padding, flip_weight=flip_weight, impl=ops)
        if demodulate and noise is not None:
            return x * dcoefs.reshape(batch, -1, 1, 1) + noise
        if demodulate:
            return x * dcoefs.reshape(batch, -1, 1, 1)
        return x + noise if noise is not None else x

    # One grouped convolution: the batch becomes groups of channels.
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(
        x, w, resample_filter, up=up, padding=padding, groups=batch, flip_weight=flip_weight, impl=ops
    )
    x = x.reshape(batch, -1, *x.shape[2:])
    return x + noise if noise is not None else x
