"""FFHQ alignment from 68 landmarks, and the transform back to the photo.

The recipe of the FFHQ dataset (Karras et al., ``ffhq-dataset``,
``download_ffhq.py: recreate_aligned_images``), which StyleGAN's FFHQ
generators were trained on: an oriented square from the eyes and the mouth
corners, the photo shrunk first when the face is much larger than the
output, areas outside the photo filled by reflection blended into a blur and
the median colour, and the square resampled to the output size.

Coordinates: landmarks and points are in pixel-index coordinates (pixel
``i``'s centre at ``i``), as dlib and the FFHQ recipe use; the recipe's
``quad + 0.5`` turns them into continuous image coordinates (pixel ``i``
spans ``[i, i + 1)``), in which `FaceTransform.matrix` is expressed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError


@dataclasses.dataclass(frozen=True)
class FaceTransform:
    """The similarity transform between an aligned ``size``² crop and its photo.

    :param matrix: ``(3, 3)`` float64, continuous aligned coordinates
        ``(u, v, 1)`` to continuous photo coordinates ``(x, y, 1)``.
    :param size: side of the aligned crop, pixels.
    :param image_size: ``(height, width)`` of the photo.
    """

    matrix: Tensor
    size: int
    image_size: tuple[int, int]

    def to_image(self, points: Tensor) -> Tensor:
        """Points ``(..., 2)`` of the aligned crop to the photo (pixel-index coordinates)."""
        return _apply(self.matrix, points)

    def to_aligned(self, points: Tensor) -> Tensor:
        """Points ``(..., 2)`` of the photo to the aligned crop (pixel-index coordinates)."""
        return _apply(torch.linalg.inv(self.matrix), points)

    @property
    def scale(self) -> float:
        """Photo pixels per aligned pixel."""
        return float(torch.linalg.det(self.matrix[:2, :2]).abs().sqrt())

    def warp_back(self, aligned: Tensor) -> tuple[Tensor, Tensor]:
        """Warp aligned images back onto the photo's pixel grid. Differentiable.

        :param aligned: ``(N, 3, S, S)`` or ``(3, S, S)``; any ``S`` (resampled
            as if it were ``size``).
        :returns: images ``(N, 3, H, W)`` (zero outside the crop) and a
            coverage mask ``(N, 1, H, W)`` in ``[0, 1]``, in the photo's size;
            blend with ``photo * (1 - mask) + images * mask``.
        """
        batched = aligned if aligned.ndim == 4 else aligned[None]
        height, width = self.image_size
        inverse = torch.linalg.inv(self.matrix).to(batched.device)
        ys, xs = torch.meshgrid(
            torch.arange(height, dtype=torch.float64, device=batched.device) + 0.5,
            torch.arange(width, dtype=torch.float64, device=batched.device) + 0.5,
            indexing="ij",
        )
        uv = _apply_continuous(inverse, torch.stack([xs, ys], dim=-1))  # (H, W, 2) aligned coordinates
        grid = (uv / self.size * 2 - 1).to(batched.dtype)[None].expand(batched.shape[0], -1, -1, -1)
        images = F.grid_sample(batched, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        ones = torch.ones_like(batched[:, :1])
        mask = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if aligned.ndim == 3:
            return images[0], mask[0]
        return images, mask

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the matrix rows, the crop size and the photo size."""
        return {"matrix": self.matrix.tolist(), "size": self.size, "image_size": list(self.image_size)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaceTransform:
        try:
            matrix = torch.tensor(data["matrix"], dtype=torch.float64)
            size, (height, width) = int(data["size"]), data["image_size"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a face transform record ({exc})", hint="pass the .json written beside the aligned image") from None
        if matrix.shape != (3, 3):
            raise InputError(f"a face transform matrix is 3x3, got {tuple(matrix.shape)}")
        return cls(matrix=matrix, size=size, image_size=(int(height), int(width)))


@dataclasses.dataclass
class AlignedFace:
    """An FFHQ-aligned crop of a photo.

    :param image: ``(3, size, size)`` in ``[-1, 1]``.
    :param transform: maps the crop back onto the photo.
    :param landmarks: ``(68, 2)`` landmarks in the crop's pixel-index coordinates.
    """

    image: Tensor
    transform: FaceTransform
    landmarks: Tensor


def _apply_continuous(matrix: Tensor, points: Tensor) -> Tensor:
    return points @ matrix[:2, :2].T.to(points.dtype) + matrix[:2, 2].to(points.dtype)


def _apply(matrix: Tensor, points: Tensor) -> Tensor:
    """Transform pixel-index points with a matrix between continuous coordinates."""
    continuous = points.to(torch.float64) + 0.5
    return (_apply_continuous(matrix.to(continuous.device), continuous) - 0.5).to(points.dtype)


def ffhq_quad(landmarks: Tensor) -> tuple[Tensor, float]:
    """The FFHQ crop square: corners ``(4, 2)`` (top-left, bottom-left, bottom-right,
    top-right, pixel-index coordinates) and its side ``qsize``.

    :param landmarks: ``(68, 2)`` in the iBUG 300-W order.
    """
    if landmarks.shape != (68, 2):
        raise InputError(f"FFHQ alignment needs 68 landmarks (68, 2), got {tuple(landmarks.shape)}")
    lm = landmarks.detach().to("cpu", torch.float64)
    eye_left, eye_right = lm[36:42].mean(dim=0), lm[42:48].mean(dim=0)
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - eye_to_mouth.flip(0) * torch.tensor([-1.0, 1.0], dtype=torch.float64)
    x = x / torch.linalg.norm(x)
    x = x * max(float(torch.linalg.norm(eye_to_eye)) * 2.0, float(torch.linalg.norm(eye_to_mouth)) * 1.8)
    y = x.flip(0) * torch.tensor([-1.0, 1.0], dtype=torch.float64)
    center = eye_avg + eye_to_mouth * 0.1
    quad = torch.stack([center - x - y, center - x + y, center + x + y, center + x - y])
    return quad, float(torch.linalg.norm(x)) * 2


def quad_transform(quad: Tensor, size: int, image_size: tuple[int, int]) -> FaceTransform:
    """The transform taking a ``size``² crop onto ``quad`` (pixel-index corners, as `ffhq_quad` gives)."""
    corners = quad.to(torch.float64) + 0.5  # the recipe's quad + 0.5: continuous coordinates
    origin, right, down = corners[0], (corners[3] - corners[0]) / size, (corners[1] - corners[0]) / size
    matrix = torch.eye(3, dtype=torch.float64)
    matrix[:2, 0], matrix[:2, 1], matrix[:2, 2] = right, down, origin
    return FaceTransform(matrix=matrix, size=size, image_size=image_size)


def align_face(image: Tensor, landmarks: Tensor, size: int = 1024, *, padding: bool = True) -> AlignedFace:
    """FFHQ-align the face with these 68 landmarks.

    :param image: ``(3, H, W)`` photo in ``[-1, 1]``.
    :param landmarks: ``(68, 2)`` in the photo's pixel-index coordinates.
    :param size: side of the aligned crop (1024 for FFHQ generators at full size).
    :param padding: fill areas outside the photo as FFHQ does (reflection,
        blurred towards the median colour); ``False`` leaves them black.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise InputError(f"expected one RGB image (3, H, W), got shape {tuple(image.shape)}")
    if size < 8:
        raise InputError(f"aligned size {size} is too small", hint="use 256, 512 or 1024")
    height, width = image.shape[-2:]
    quad, qsize = ffhq_quad(landmarks)
    transform = quad_transform(quad, size, (height, width))
    work = image[None].float()

    # Shrink: resample from a smaller photo when the face is much larger than the output.
    shrink = math.floor(qsize / size * 0.5)
    if shrink > 1:
        shrunk_size = (max(round(height / shrink), 1), max(round(width / shrink), 1))
        work = F.interpolate(work, size=shrunk_size, mode="bilinear", align_corners=False, antialias=True)
        quad, qsize = quad / shrink, qsize / shrink

    # Crop to the quad plus a border.
    border = max(round(qsize * 0.1), 3)
    low, high = quad.min(dim=0).values, quad.max(dim=0).values
    left, top = max(math.floor(low[0]) - border, 0), max(math.floor(low[1]) - border, 0)
    right = min(math.ceil(high[0]) + border, work.shape[-1])
    bottom = min(math.ceil(high[1]) + border, work.shape[-2])
    if right <= left or bottom <= top:
        raise InputError("the face lies outside the image", hint="check the landmarks belong to this image")
    work = work[..., top:bottom, left:right]
    quad = quad - torch.tensor([left, top], dtype=quad.dtype)

    # Pad: reflect the photo where the square leaves it, blurred towards the median colour.
    low, high = quad.min(dim=0).values, quad.max(dim=0).values
    pads = [max(-math.floor(low[0]) + border, 0), max(-math.floor(low[1]) + border, 0),
            max(math.ceil(high[0]) - work.shape[-1] + border, 0), max(math.ceil(high[1]) - work.shape[-2] + border, 0)]
    if padding and max(pads) > border - 4:
        pads = [max(p, round(qsize * 0.3)) for p in pads]
        work = _ffhq_pad(work, pads, blur=qsize * 0.02)
        quad = quad + torch.tensor(pads[:2], dtype=quad.dtype)

    aligned = _sample_quad(work, quad, size, supersample=min(max(math.ceil(qsize / size), 1), 4))
    return AlignedFace(image=aligned[0].clamp(-1, 1), transform=transform, landmarks=transform.to_aligned(landmarks.detach().cpu().float()))


def _reflect_pad(images: Tensor, pads: list[int]) -> Tensor:
    """Reflection padding of any width (repeats the reflection when a pad exceeds the image)."""
    left, top, right, bottom = pads
    while left or top or right or bottom:
        height, width = images.shape[-2:]
        step = [min(left, width - 1), min(right, width - 1), min(top, height - 1), min(bottom, height - 1)]
        if not any(step):  # a one-pixel image: repeat its edge
            return F.pad(images, (left, right, top, bottom), mode="replicate")
        images = F.pad(images, tuple(step), mode="reflect")
        left, right, top, bottom = left - step[0], right - step[1], top - step[2], bottom - step[3]
    return images


def _gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    radius = max(int(math.ceil(sigma * 4)), 1)
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, 0, 0), mode="replicate")
    images = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1).contiguous(), groups=channels)
    padded = F.pad(images, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1).contiguous(), groups=channels)


def _ffhq_pad(images: Tensor, pads: list[int], blur: float) -> Tensor:
    """The recipe's padding: reflect, blend towards a blur near the new edges, then towards the median."""
    left, top, right, bottom = pads
    padded = _reflect_pad(images, pads)
    height, width = padded.shape[-2:]
    ys = torch.arange(height, dtype=padded.dtype, device=padded.device)[:, None]
    xs = torch.arange(width, dtype=padded.dtype, device=padded.device)[None, :]
    inside_x = torch.minimum(xs / max(left, 1e-8), (width - 1 - xs) / max(right, 1e-8))
    inside_y = torch.minimum(ys / max(top, 1e-8), (height - 1 - ys) / max(bottom, 1e-8))
    mask = torch.maximum(1 - inside_x, 1 - inside_y)  # (H, W): 0 inside the photo, rising towards the edges
    if blur > 0:
        padded = padded + (_gaussian_blur(padded, blur) - padded) * (mask * 3 + 1).clamp(0, 1)
    median = padded.flatten(2).median(dim=2).values[:, :, None, None]
    return padded + (median - padded) * mask.clamp(0, 1)


def _sample_quad(images: Tensor, quad: Tensor, size: int, supersample: int) -> Tensor:
    """Bilinear samples of the square ``quad`` (pixel-index corners) at ``size``², box-filtered from
    ``supersample`` times that resolution (the recipe renders at 4096² and downsamples)."""
    transform = quad_transform(quad, size * supersample, tuple(images.shape[-2:]))
    steps = torch.arange(size * supersample, dtype=torch.float64) + 0.5
    vs, us = torch.meshgrid(steps, steps, indexing="ij")
    xy = _apply_continuous(transform.matrix, torch.stack([us, vs], dim=-1))  # continuous photo coordinates
    height, width = images.shape[-2:]
    grid = torch.stack([xy[..., 0] / width, xy[..., 1] / height], dim=-1) * 2 - 1
    grid = grid[None].to(images.dtype).to(images.device)
    # sampled shifted by +1 so that whatever lies outside the photo comes back black (-1)
    samples = F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    if supersample > 1:
        samples = F.avg_pool2d(samples, supersample)
    return samples
