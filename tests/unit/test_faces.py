"""FFHQ alignment geometry, its inverse, and choosing a face."""

from __future__ import annotations

import math

import pytest
import torch

from lswap_core.errors import InputError, NoFaceError, SeveralFacesError
from lswap_core.faces import FaceTransform, align_face, ffhq_quad, no_face_error, order_faces, select_face
from lswap_core.interfaces import DetectedFace


def face_landmarks(center=(100.0, 120.0), eye_distance=40.0, angle_degrees=0.0) -> torch.Tensor:
    """68 points with eyes and mouth where a frontal face has them (the rest near the centre)."""
    points = torch.zeros(68, 2, dtype=torch.float64)
    half = eye_distance / 2
    points[:] = torch.tensor([0.0, 0.5 * eye_distance])
    points[36:42] = torch.tensor([-half, 0.0])  # left eye (image left)
    points[42:48] = torch.tensor([half, 0.0])
    points[48] = torch.tensor([-0.6 * half, 1.1 * eye_distance])  # mouth corners
    points[54] = torch.tensor([0.6 * half, 1.1 * eye_distance])
    theta = math.radians(angle_degrees)
    rotation = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=torch.float64)
    return (points @ rotation.T + torch.tensor(center, dtype=torch.float64)).float()


def test_quad_is_an_upright_square_for_a_level_face():
    quad, qsize = ffhq_quad(face_landmarks())
    top_left, bottom_left, bottom_right, top_right = quad
    assert torch.allclose(top_right - top_left, torch.tensor([qsize, 0.0], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(bottom_left - top_left, torch.tensor([0.0, qsize], dtype=torch.float64), atol=1e-6)
    # eyes 40 px apart, eye-to-mouth 44 px: the recipe takes max(2 * 40, 1.8 * 44) * 2 for the side
    assert qsize == pytest.approx(max(2 * 40, 1.8 * 44) * 2)
    center = (top_left + bottom_right) / 2
    assert torch.allclose(center, torch.tensor([100.0, 120.0 + 0.1 * 44], dtype=torch.float64), atol=1e-4)


def test_rotated_faces_align_to_the_same_place():
    image = torch.zeros(3, 300, 300)
    level = align_face(image, face_landmarks(center=(150.0, 150.0)), 64)
    tilted = align_face(image, face_landmarks(center=(150.0, 150.0), angle_degrees=25.0), 64)
    assert torch.allclose(level.landmarks[36:48], tilted.landmarks[36:48], atol=1e-3)
    assert tilted.transform.scale == pytest.approx(level.transform.scale, rel=1e-6)


def test_transform_round_trips_points_and_serialises():
    landmarks = face_landmarks(angle_degrees=-10.0)
    aligned = align_face(torch.zeros(3, 240, 200), landmarks, 128)
    torch.testing.assert_close(aligned.transform.to_image(aligned.landmarks), landmarks, atol=1e-4, rtol=0)
    restored = FaceTransform.from_dict(aligned.transform.to_dict())
    torch.testing.assert_close(restored.matrix, aligned.transform.matrix)
    assert (restored.size, restored.image_size) == (128, (240, 200))
    with pytest.raises(InputError, match="face transform"):
        FaceTransform.from_dict({"size": 3})


def test_aligned_crop_samples_the_photo_and_warps_back():
    # a smooth photo: every aligned pixel must equal the photo at the transformed position
    height, width = 240, 260
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    photo = torch.stack([xs / width, ys / height, (xs + ys) / (width + height)]) * 2 - 1
    landmarks = face_landmarks(center=(130.0, 110.0), eye_distance=30.0, angle_degrees=12.0)
    aligned = align_face(photo, landmarks, 64)
    sample = torch.tensor([[20.0, 40.0]])
    x, y = aligned.transform.to_image(sample)[0].tolist()
    expected = torch.tensor([x / width, y / height, (x + y) / (width + height)]) * 2 - 1
    torch.testing.assert_close(aligned.image[:, 40, 20], expected, atol=0.01, rtol=0)
    back, mask = aligned.transform.warp_back(aligned.image)
    assert back.shape == photo.shape and mask.shape == (1, height, width)
    inside = mask[0] > 0.999
    assert inside.sum() > 1000 and (mask[0] < 1e-6).any()
    assert (back[:, inside] - photo[:, inside]).abs().max() < 0.03


def test_faces_leaving_the_photo_are_padded_not_black():
    photo = torch.full((3, 100, 100), 0.5)
    aligned = align_face(photo, face_landmarks(center=(10.0, 10.0), eye_distance=30.0), 64)
    assert (aligned.image - 0.5).abs().max() < 0.02  # reflection of a flat photo stays flat
    unpadded = align_face(photo, face_landmarks(center=(10.0, 10.0), eye_distance=30.0), 64, padding=False)
    assert unpadded.image.min() == -1  # outside the photo: black


def test_alignment_refuses_bad_input():
    with pytest.raises(InputError, match="68 landmarks"):
        align_face(torch.zeros(3, 50, 50), torch.zeros(5, 2))
    with pytest.raises(InputError, match=r"\(3, H, W\)"):
        align_face(torch.zeros(50, 50), face_landmarks())
    with pytest.raises(InputError, match="outside the image"):
        align_face(torch.zeros(3, 50, 50), face_landmarks(center=(5000.0, 5000.0)))


def face_at(left: float, score: float = 0.9) -> DetectedFace:
    return DetectedFace(box=(left, 10.0, left + 20.0, 30.0), score=score, landmarks=torch.zeros(68, 2))


def test_faces_are_numbered_left_to_right():
    faces = [face_at(200, 0.99), face_at(10, 0.5), face_at(100, 0.7)]
    assert [f.box[0] for f in order_faces(faces)] == [10, 100, 200]
    assert select_face(faces, 1).box[0] == 100


def test_face_selection_errors():
    with pytest.raises(NoFaceError, match="no face found in photo.jpg; .* or lower --min-score"):
        select_face([], source="photo.jpg")
    error = no_face_error("a.png")
    assert isinstance(error, NoFaceError) and str(error).startswith("no face found in a.png; ")
    with pytest.raises(SeveralFacesError, match="shows 2 faces; choose one with --face-index 0..1"):
        select_face([face_at(0), face_at(50)], source="photo.jpg")
    with pytest.raises(InputError, match="out of range"):
        select_face([face_at(0)], 3)
    only = face_at(5)
    assert select_face([only]) is only
