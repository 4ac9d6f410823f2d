"""Attributes of generated faces for fitting editing directions: an analyzer's scores and head pose.

Head pose comes from the 68 landmarks with a documented solver: a
weak-perspective (scaled orthographic) fit of six landmarks (nose tip, chin,
outer eye corners, mouth corners) to a generic 3D face, the model widely
used with OpenCV's ``solvePnP`` for head pose. The linear map from the
centred model points to the centred image points is found by least squares;
its two rows, normalised and made orthogonal, are the first two rows of the
rotation, their cross product the third (the face's forward axis). Yaw is
positive when the face turns toward the image's right, pitch when it looks
up, in degrees.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import InputError
from .interfaces import FaceAnalyzer

POSE_ATTRIBUTES = ("yaw", "pitch")
# (landmark index, generic 3D point) with x right, y up, z toward the camera, in model units.
POSE_MODEL = (
    (30, (0.0, 0.0, 0.0)),  # nose tip
    (8, (0.0, -330.0, -65.0)),  # chin
    (36, (-225.0, 170.0, -135.0)),  # outer corner of the eye on the image's left
    (45, (225.0, 170.0, -135.0)),  # outer corner of the eye on the image's right
    (48, (-150.0, -150.0, -125.0)),  # mouth corners
    (54, (150.0, -150.0, -125.0)),
)


def head_pose(landmarks: Tensor) -> tuple[float, float]:
    """Yaw and pitch in degrees of a face's ``(68, 2)`` landmarks (pixel coordinates, y down)."""
    yaw, pitch, _ = head_angles(landmarks)
    return yaw, pitch


def head_angles(landmarks: Tensor) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees of a face's ``(68, 2)`` landmarks (pixel coordinates, y down).

    Roll is the in-plane angle of the model's left-to-right axis in the image, positive
    counter-clockwise (as seen, y up)."""
    indices = [index for index, _ in POSE_MODEL]
    model = torch.tensor([point for _, point in POSE_MODEL], dtype=torch.float64)
    image = landmarks.detach().cpu().double()[indices] * torch.tensor([1.0, -1.0], dtype=torch.float64)  # y up
    model, image = model - model.mean(0), image - image.mean(0)
    projection = torch.linalg.lstsq(model, image).solution.T  # (2, 3): image ≈ projection @ model
    first = projection[0] / projection[0].norm()
    second = projection[1] - (projection[1] @ first) * first
    second = second / second.norm()
    third = torch.linalg.cross(first, second)
    yaw = -math.degrees(math.asin(max(-1.0, min(1.0, float(third[0])))))
    pitch = math.degrees(math.atan2(-float(third[1]), float(third[2])))
    roll = math.degrees(math.atan2(float(second[0]), float(first[0])))
    return yaw, pitch, roll


def attribute_choices(analyzer: FaceAnalyzer) -> tuple[str, ...]:
    return (*analyzer.attribute_names, *POSE_ATTRIBUTES)


@torch.no_grad()
def score_faces(analyzer: FaceAnalyzer, images: Tensor, attribute: str) -> Tensor:
    """``(N,)`` scores of generated (aligned) faces; NaN where the analyzer finds no face for a pose."""
    choices = attribute_choices(analyzer)
    if attribute not in choices:
        raise InputError(f"face analyzer {analyzer.name!r} cannot score {attribute!r}", hint=f"choose one of: {', '.join(choices)}")
    if attribute in POSE_ATTRIBUTES:
        values = []
        for image in images:
            faces = analyzer.detect(image.cpu())
            if not faces:
                values.append(math.nan)
                continue
            largest = max(faces, key=lambda face: (face.box[2] - face.box[0]) * (face.box[3] - face.box[1]))
            values.append(head_pose(largest.landmarks)[POSE_ATTRIBUTES.index(attribute)])
        return torch.tensor(values, dtype=torch.float64)
    return analyzer.attributes(images)[attribute].detach().double().cpu()
