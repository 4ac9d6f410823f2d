"""Deep3DFaceRecon's own input crop, made differentiable.

Deep3DFaceRecon_pytorch (util/preprocess.py ``align_img``) fits a scale and
a 2D translation that take five reference 3D points (``similarity_Lm3D_all.mat``)
onto the face's five detected landmarks (``POS``, a least-squares affine
camera), rescales the image so that the face has a fixed size
(``rescale_factor`` 102), and crops 224x224 around the fitted centre. Here
the same arithmetic runs on tensors: bicubic resizing (PIL's filter, with
antialiasing; like PIL, the width first, then the height, clipped to
``[0, 1]`` after each pass) and the integer crop of ``resize_n_crop_img``,
zero-padded where the crop leaves the image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

TARGET_SIZE = 224
RESCALE_FACTOR = 102.0


def pos(points_2d: np.ndarray, points_3d: np.ndarray) -> tuple[np.ndarray, float]:
    """Translation and scale of the affine camera taking ``(5, 3)`` points onto ``(5, 2)`` image points (y up).

    Solves ``x_i ≈ s·R1·X_i + tx``, ``y_i ≈ s·R2·X_i + ty`` by least squares
    for the 8 unknowns; the scale is the mean norm of the two rows.
    """
    count = len(points_3d)
    design = np.zeros((2 * count, 8))
    design[0::2, 0:3], design[0::2, 3] = points_3d, 1
    design[1::2, 4:7], design[1::2, 7] = points_3d, 1
    solution = np.linalg.lstsq(design, points_2d.reshape(-1), rcond=None)[0]
    scale = (np.linalg.norm(solution[0:3]) + np.linalg.norm(solution[4:7])) / 2
    return np.array([solution[3], solution[7]]), float(scale)


def crop_window(height: int, width: int, points: np.ndarray, reference: np.ndarray) -> tuple[int, int, int, int]:
    """Where ``align_img`` crops: the resized size and the crop's top-left corner.

    :param points: ``(5, 2)`` landmarks in pixels, y pointing down.
    :param reference: ``(5, 3)`` reference 3D points.
    :returns: ``(resized_height, resized_width, top, left)``.
    """
    y_up = np.stack([points[:, 0], height - 1 - points[:, 1]], axis=1)  # test.py read_data
    translation, scale = pos(y_up, reference)
    scale = RESCALE_FACTOR / scale
    resized_width, resized_height = int(width * scale), int(height * scale)
    # int() truncates toward zero, like numpy's astype(np.int32) in resize_n_crop_img.
    left = int(resized_width / 2 - TARGET_SIZE / 2 + (translation[0] - width / 2) * scale)
    top = int(resized_height / 2 - TARGET_SIZE / 2 + (height / 2 - translation[1]) * scale)
    return resized_height, resized_width, top, left


def five_point_crop(images: Tensor, points: np.ndarray, reference: np.ndarray) -> Tensor:
    """Crop ``(N, 3, H, W)`` images in ``[0, 1]`` as Deep3DFaceRecon does, to ``(N, 3, 224, 224)``.

    :param points: ``(5, 2)`` landmarks shared by every image, or ``(N, 5, 2)``; pixels, y down.
    :param reference: ``(5, 3)`` reference 3D points.
    """
    height, width = images.shape[-2:]
    if points.ndim == 2:
        return _crop(images, crop_window(height, width, points, reference))
    return torch.cat([_crop(image[None], crop_window(height, width, p, reference)) for image, p in zip(images, points)])


def _crop(images: Tensor, window: tuple[int, int, int, int]) -> Tensor:
    resized_height, resized_width, top, left = window
    if min(resized_height, resized_width) < 1:
        raise ValueError(f"the five points give a degenerate scale (resized to {resized_height}x{resized_width})")
    # PIL (Resample.c) resizes the width, then the height, each pass into a uint8 image: bicubic overshoot is clipped twice.
    resized = F.interpolate(images, size=(images.shape[-2], resized_width), mode="bicubic", align_corners=False, antialias=True)
    resized = F.interpolate(resized.clamp(0, 1), size=(resized_height, resized_width), mode="bicubic", align_corners=False, antialias=True)
    resized = resized.clamp(0, 1)
    # Pad so that the window always lies inside, as PIL's crop fills outside pixels with black.
    pad = (max(-left, 0), max(left + TARGET_SIZE - resized_width, 0), max(-top, 0), max(top + TARGET_SIZE - resized_height, 0))
    if any(pad):
        resized = F.pad(resized, pad)
    top, left = top + pad[2], left + pad[0]
    return resized[..., top : top + TARGET_SIZE, left : left + TARGET_SIZE]
