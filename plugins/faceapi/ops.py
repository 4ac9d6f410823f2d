"""TensorFlow.js semantics in PyTorch: ``same`` padding, separable convolutions,
the legacy bilinear resize and face-api's input preparation.

TensorFlow pads ``same`` convolutions and pools asymmetrically (the extra
pixel goes to the bottom and right), and ``tf.image.resizeBilinear`` without
half-pixel centres samples the source at ``dst * in / out``. Both differ from
PyTorch's defaults by up to a pixel, which shifts landmarks and boxes, so the
face-api ports use these helpers wherever the original calls the TF op
(``src/common/depthwiseSeparableConv.ts``, ``src/dom/NetInput.ts``,
``src/ops/padToSquare.ts`` in vladmandic/face-api).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# face-api's per-channel means of its training images, in 0..255 RGB
# (src/faceRecognitionNet/FaceRecognitionNet.ts and the feature extractors).
FACE_MEAN_RGB = (122.782, 117.001, 104.298)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``same`` padding along one axis: (before, after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: Tensor, kernel: int, stride: int, value: float = 0.0) -> Tensor:
    """Pad ``(N, C, H, W)`` so that a ``valid`` op afterwards acts like TF's ``same``."""
    top, bottom = same_padding(x.shape[-2], kernel, stride)
    left, right = same_padding(x.shape[-1], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


def conv2d_same(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1, groups: int = 1) -> Tensor:
    """``tf.conv2d(x, w, stride, 'same')`` (+ bias); ``weight`` is ``(out, in / groups, k, k)``."""
    top, bottom = same_padding(x.shape[-2], weight.shape[-1], stride)
    left, right = same_padding(x.shape[-1], weight.shape[-1], stride)
    if top == bottom and left == right:  # symmetric: let the convolution pad (no copy)
        return F.conv2d(x, weight, bias, stride=stride, padding=(top, left), groups=groups)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, bias, stride=stride, groups=groups)


def separable_conv_same(x: Tensor, depthwise: Tensor, pointwise: Tensor, bias: Tensor, stride: int = 1) -> Tensor:
    """``tf.separableConv2d(x, depthwise, pointwise, stride, 'same') + bias``.

    :param depthwise: ``(C, 1, k, k)``; :param pointwise: ``(out, C, 1, 1)``.
    """
    out = conv2d_same(x, depthwise, None, stride=stride, groups=depthwise.shape[0])
    return F.conv2d(out, pointwise, bias)


def max_pool_same(x: Tensor, kernel: int, stride: int) -> Tensor:
    """``tf.maxPool(x, kernel, stride, 'same')``: padded cells never win."""
    return F.max_pool2d(pad_same(x, kernel, stride, value=float("-inf")), kernel, stride)


def leaky_relu(x: Tensor) -> Tensor:
    """face-api's leaky ReLU (src/tinyYolov2/leaky.ts), slope 0.1 in float32."""
    return F.leaky_relu(x, 0.10000000149011612)


def resize_bilinear_legacy(images: Tensor, size: tuple[int, int]) -> Tensor:
    """``tf.image.resizeBilinear(images, size, alignCorners=false, halfPixelCenters=false)``.

    The source coordinate of output pixel ``i`` is ``i * in / out`` (no
    half-pixel shift), as tfjs computes it. Differentiable.

    :param images: ``(N, C, H, W)``; :param size: ``(height, width)``.
    """
    height, width = images.shape[-2:]
    if (height, width) == tuple(size):
        return images

    def axis(old: int, new: int) -> tuple[Tensor, Tensor, Tensor]:
        source = torch.arange(new, dtype=torch.float64) * (old / new)
        low = source.floor().clamp(min=0)
        frac = (source - low).to(images.dtype).to(images.device)
        high = source.ceil().clamp(max=old - 1)
        return low.long().to(images.device), high.long().to(images.device), frac

    row_low, row_high, row_frac = axis(height, size[0])
    col_low, col_high, col_frac = axis(width, size[1])
    top = images[..., row_low, :]
    bottom = images[..., row_high, :]

    def horizontal(rows: Tensor) -> Tensor:
        left, right = rows[..., col_low], rows[..., col_high]
        return left + (right - left) * col_frac

    top, bottom = horizontal(top), horizontal(bottom)
    return top + (bottom - top) * row_frac[:, None]


def square_padding(height: int, width: int, centered: bool) -> tuple[int, int]:
    """Padding (before, after) that face-api's ``padToSquare`` adds to the shorter side."""
    difference = abs(height - width)
    after = math.floor(difference * (0.5 if centered else 1.0) + 0.5)  # JavaScript's Math.round
    return difference - after, after


def pad_to_square(image: Tensor, centered: bool, value: float = -1.0) -> Tensor:
    """face-api's ``padToSquare``: pad the shorter side of ``(N, C, H, W)`` with black.

    ``value`` is black in the image's range (-1 for ``[-1, 1]`` images).
    """
    height, width = image.shape[-2:]
    before, after = square_padding(height, width, centered)
    if before == after == 0:
        return image
    pads = (before, after, 0, 0) if height > width else (0, 0, before, after)
    return F.pad(image, pads, value=value)


def network_input(crop: Tensor, size: int, centered: bool) -> Tensor:
    """One ``(3, H, W)`` image as face-api feeds it to a net: square, then ``size``².

    ``NetInput.toBatchTensor``: pad to a square (centred for the face nets,
    at the bottom/right for the detectors), then the legacy bilinear resize.
    Returns ``(3, size, size)`` in the input's range.
    """
    square = pad_to_square(crop[None], centered)
    return resize_bilinear_legacy(square, (size, size))[0]


def to_face_api_pixels(images: Tensor, mean_rgb: tuple[float, float, float] = FACE_MEAN_RGB) -> Tensor:
    """``[-1, 1]`` images to face-api's normalisation: ``(pixel - mean) / 255`` with pixels in 0..255.

    The result is channels-last: the nets' depthwise and 1×1 convolutions run
    about a quarter faster on CPU that way (``lswap bench faces``).
    """
    mean = torch.tensor(mean_rgb, dtype=images.dtype, device=images.device)[None, :, None, None]
    return (((images + 1) * 127.5 - mean) / 255).contiguous(memory_format=torch.channels_last)
