"""Pasting a rendered face back into its photo: a soft face mask, colour matching, blending.

Everything happens on the aligned crop first (the mask from the target's
landmarks, the colour correction) and is then warped back with the inverse
of the alignment, so the result keeps the photo's size. Outside the mask's
support the photo's pixels are kept as they are, bit for bit.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from torch import Tensor

from ..errors import InputError
from .alignment import FaceTransform

ColorMode = Literal["none", "mean-std"]
COLOR_MODES: tuple[str, ...] = ("none", "mean-std")
MIN_STD = 1e-3  # a flat channel is shifted, not stretched


@dataclasses.dataclass(frozen=True)
class MaskOptions:
    """How the face mask is shaped, in pixels of a 1024² aligned crop (scaled to the crop's size).

    :param grow: move the hull's edge outwards (negative: inwards).
    :param blur: width of the feathered edge, inside the grown hull.
    """

    grow: float = 0.0
    blur: float = 40.0

    def __post_init__(self) -> None:
        if self.blur < 0:
            raise InputError(f"--mask-blur must be 0 or more, got {self.blur}")


REFERENCE_SIZE = 1024  # MaskOptions are given for this crop size
DEFAULT_MASK = MaskOptions()


def convex_hull(points: Tensor) -> Tensor:
    """The convex hull of ``(K, 2)`` points, its corners in order around it, ``(M, 2)`` float64 (Andrew's monotone chain)."""
    ordered = sorted({(float(x), float(y)) for x, y in points.tolist()})

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for point in ordered:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], point) <= 0:
            lower.pop()
        lower.append(point)
    for point in reversed(ordered):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], point) <= 0:
            upper.pop()
        upper.append(point)
    return torch.tensor(lower[:-1] + upper[:-1], dtype=torch.float64)


def hull_distance(hull: Tensor, size: int) -> Tensor:
    """Signed distance in pixels from each pixel centre of a ``size``² grid to the hull's edge,
    positive inside, ``(size, size)`` float64. Exact inside; outside, the distance to the nearest
    edge's line (never more than the true distance), which is all a mask edge needs."""
    if hull.shape[0] < 3:
        raise InputError("the face's landmarks do not span an area", hint="use a photo where the face is clearly visible")
    coords = torch.arange(size, dtype=torch.float64)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    pixels = torch.stack([xs, ys], dim=-1)  # (S, S, 2), pixel-index coordinates
    start, end = hull, hull.roll(-1, dims=0)
    edge = end - start
    normal = torch.stack([-edge[:, 1], edge[:, 0]], dim=1)  # perpendicular to each edge, all on the same side
    normal = normal / normal.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if float(((hull.mean(dim=0) - start[0]) * normal[0]).sum()) < 0:  # make them point inwards
        normal = -normal
    distance = torch.full((size, size), math.inf, dtype=torch.float64)
    for point, direction in zip(start, normal):  # one (S, S) plane per edge: little memory at 1024²
        torch.minimum(distance, (pixels - point) @ direction, out=distance)
    return distance


def face_mask(landmarks: Tensor, size: int, options: MaskOptions = DEFAULT_MASK) -> Tensor:
    """A soft mask ``(1, size, size)`` in ``[0, 1]`` over the hull of ``(68, 2)`` crop landmarks.

    It is 0 outside the hull grown by ``options.grow`` and ramps to 1 over
    ``options.blur`` pixels inside it (both scaled from a 1024² crop).
    """
    scale = size / REFERENCE_SIZE
    distance = hull_distance(convex_hull(landmarks.detach().cpu().double()), size) + options.grow * scale
    blur = options.blur * scale
    mask = (distance > 0).double() if blur == 0 else (distance / blur).clamp(0, 1)
    return mask.float()[None]


def match_colors(swap: Tensor, target: Tensor, mask: Tensor, mode: ColorMode = "mean-std") -> Tensor:
    """``swap`` ``(3, S, S)`` with its masked colour statistics moved to the target's (per channel)."""
    if mode == "none":
        return swap
    if mode not in COLOR_MODES:
        raise InputError(f"unknown colour correction {mode!r}", hint=f"use one of {', '.join(COLOR_MODES)}")
    weight = mask.to(swap.dtype)
    total = weight.sum().clamp_min(1e-6)

    def stats(image: Tensor) -> tuple[Tensor, Tensor]:
        mean = (image * weight).sum(dim=(1, 2), keepdim=True) / total
        var = ((image - mean).square() * weight).sum(dim=(1, 2), keepdim=True) / total
        return mean, var.sqrt()

    swap_mean, swap_std = stats(swap)
    target_mean, target_std = stats(target)
    gain = torch.where(swap_std > MIN_STD, target_std / swap_std.clamp_min(MIN_STD), torch.ones_like(swap_std))
    return ((swap - swap_mean) * gain + target_mean).clamp(-1, 1)


@dataclasses.dataclass
class Pasted:
    """A face pasted back: the photo, and the mask in the photo's pixels."""

    image: Tensor  # (3, H, W) in [-1, 1]
    mask: Tensor  # (1, H, W) in [0, 1]; 0 where the photo is untouched


def paste_back(
    photo: Tensor,
    swap: Tensor,
    transform: FaceTransform,
    landmarks: Tensor,
    *,
    aligned_target: Tensor | None = None,
    mask_options: MaskOptions = DEFAULT_MASK,
    color: ColorMode = "mean-std",
) -> Pasted:
    """Blend an aligned ``swap`` ``(3, S, S)`` back into ``photo`` ``(3, H, W)``, both in ``[-1, 1]``.

    :param transform: the alignment of the target face (crop to photo).
    :param landmarks: the target's ``(68, 2)`` landmarks in the crop.
    :param aligned_target: the aligned target crop, for the colour correction.
    """
    size = swap.shape[-1]
    mask = face_mask(landmarks * (size / transform.size), size, mask_options).to(swap.device)
    if aligned_target is not None:
        swap = match_colors(swap, aligned_target.to(swap.device), mask, color)
    warped, coverage = transform.warp_back(torch.cat([swap, mask]).to(photo.device))
    face, soft = warped[:3], (warped[3:] * (coverage > 0.999)).clamp(0, 1)
    blended = photo * (1 - soft) + face * soft
    image = torch.where(soft > 0, blended, photo)  # untouched pixels stay the photo's, bit for bit
    return Pasted(image, soft)
