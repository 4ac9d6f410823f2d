"""Canonical five-point face landmarks and the similarity warps between them.

The five points, in image order: the eye on the image's left, the other
eye, the nose tip, the mouth corner on the image's left, the other corner.
"""

from __future__ import annotations

import numpy as np

# Where FFHQ alignment puts the five points in a 512x512 image: the template
# face restoration tools use for FFHQ-aligned faces (facexlib,
# utils/face_restoration_helper.py); pixel coordinates, pixel centres at integers.
FFHQ_FIVE_POINTS_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.19360],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ]
)

# insightface's 112x112 ArcFace alignment template (face_align.py ``arcface_dst``), in pixels.
ARCFACE_FIVE_POINTS_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)


def ffhq_five_points(width: int, height: int) -> np.ndarray:
    """`FFHQ_FIVE_POINTS_512` in pixels of a ``width`` x ``height`` FFHQ-aligned image, ``(5, 2)``."""
    size = np.array([width, height]) / 512.0
    return (FFHQ_FIVE_POINTS_512 + 0.5) * size - 0.5  # scale about pixel edges, not centres


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, translation) taking ``source`` points to ``target``.

    Umeyama, "Least-squares estimation of transformation parameters between
    two point patterns" (1991), as skimage's ``SimilarityTransform.estimate``.

    :param source: ``(K, 2)`` points.
    :param target: ``(K, 2)`` points.
    :returns: ``(2, 3)`` matrix ``M`` with ``target ≈ M @ [x, y, 1]``.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(0), target.mean(0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(covariance) < 0:
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (singular * sign).sum() / source_centred.var(0).sum()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = target_mean - scale * rotation @ source_mean
    return matrix
