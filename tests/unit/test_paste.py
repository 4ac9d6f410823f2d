"""Pasting a face back into its photo: hull, mask, colour matching, blending."""

from __future__ import annotations

import math

import pytest
import torch

from lswap_core.errors import InputError
from lswap_core.faces import align_face
from lswap_core.faces.paste import MaskOptions, convex_hull, face_mask, hull_distance, match_colors, paste_back
from tests.unit.test_faces import face_landmarks


def landmarks_with_outline(center=(160.0, 130.0), eye_distance=40.0) -> torch.Tensor:
    """face_landmarks' eyes and mouth, with a jaw line and brows around them (a face-shaped hull)."""
    points = face_landmarks(center=center, eye_distance=eye_distance).double()
    cx, cy = center
    for index in range(17):  # jaw: a half ellipse below the eyes
        angle = math.pi * index / 16
        points[index] = torch.tensor([cx - 1.1 * eye_distance * math.cos(angle), cy + 1.4 * eye_distance * math.sin(angle)])
    for index in range(17, 27):  # brows above the eyes
        points[index] = torch.tensor([cx - eye_distance + (index - 17) * 2 * eye_distance / 9, cy - 0.4 * eye_distance])
    return points.float()


def test_the_hull_keeps_the_corners_only():
    square = torch.tensor([[0, 0], [4, 0], [4, 4], [0, 4], [2, 2], [1, 3], [4, 2]], dtype=torch.float64)
    hull = convex_hull(square)
    assert sorted(map(tuple, hull.tolist())) == [(0.0, 0.0), (0.0, 4.0), (4.0, 0.0), (4.0, 4.0)]


def test_distances_are_positive_inside_and_exact_there():
    hull = convex_hull(torch.tensor([[2.0, 2.0], [12.0, 2.0], [12.0, 12.0], [2.0, 12.0]]))
    distance = hull_distance(hull, 16)
    assert distance[7, 7] == pytest.approx(5.0) and distance[2, 7] == pytest.approx(0.0)
    assert distance[0, 7] == pytest.approx(-2.0) and (distance[13:, :] < 0).all()
    with pytest.raises(InputError, match="do not span an area"):
        hull_distance(convex_hull(torch.tensor([[1.0, 1.0], [5.0, 5.0], [3.0, 3.0]])), 8)


def test_the_mask_is_zero_outside_the_grown_hull_and_feathered_inside():
    points = torch.tensor([[20.0, 20.0], [80.0, 20.0], [80.0, 80.0], [20.0, 80.0]])
    sharp = face_mask(points, 100, MaskOptions(grow=0, blur=0))[0]
    assert sharp[50, 50] == 1 and sharp[10, 50] == 0 and sharp[50, 85] == 0
    grown = face_mask(points, 100, MaskOptions(grow=10 * 1024 / 100, blur=0))[0]  # 10 pixels at 100²
    assert grown[50, 12] == 1 and grown[50, 8] == 0
    feathered = face_mask(points, 100, MaskOptions(blur=20 * 1024 / 100))[0]  # a 20-pixel ramp inside the edge
    assert feathered[50, 20] == 0 and feathered[50, 30] == pytest.approx(0.5) and feathered[50, 45] == 1


def test_colour_matching_moves_the_masked_statistics_to_the_target():
    swap = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.4 - 0.6
    target = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.8 - 0.2
    mask = torch.zeros(1, 32, 32)
    mask[:, 8:24, 8:24] = 1
    matched = match_colors(swap, target, mask)
    inside = matched[:, 8:24, 8:24].reshape(3, -1)
    wanted = target[:, 8:24, 8:24].reshape(3, -1)
    torch.testing.assert_close(inside.mean(1), wanted.mean(1), rtol=0, atol=1e-5)
    torch.testing.assert_close(inside.std(1, unbiased=False), wanted.std(1, unbiased=False), rtol=1e-4, atol=1e-5)
    assert torch.equal(match_colors(swap, target, mask, "none"), swap)
    with pytest.raises(InputError, match="unknown colour correction"):
        match_colors(swap, target, mask, "histogram")  # type: ignore[arg-type]


def test_pasting_back_keeps_the_photo_outside_the_mask_bit_for_bit():
    photo = torch.rand(3, 260, 330, generator=torch.Generator().manual_seed(2)) * 2 - 1
    landmarks = landmarks_with_outline()
    target = align_face(photo, landmarks, 128)
    swap = torch.full((3, 128, 128), 0.25)
    pasted = paste_back(photo, swap, target.transform, target.landmarks, aligned_target=target.image, color="none")
    assert pasted.image.shape == photo.shape and pasted.mask.shape == (1, 260, 330)
    outside = pasted.mask[0] == 0
    assert torch.equal(pasted.image[:, outside], photo[:, outside])
    inside = pasted.mask[0] == 1
    torch.testing.assert_close(pasted.image[:, inside], torch.full_like(pasted.image[:, inside], 0.25))
    # The mask covers the face: the nose and the space between the eyes, well inside the hull, are swapped.
    for x, y in ((160, 150), (160, 135)):
        assert pasted.mask[0, y, x] == 1
    assert pasted.mask[0, 5, 5] == 0 and pasted.mask[0, 255, 325] == 0


def test_a_face_at_the_border_is_pasted_inside_the_photo_only():
    photo = torch.rand(3, 200, 200, generator=torch.Generator().manual_seed(3)) * 2 - 1
    landmarks = landmarks_with_outline(center=(30.0, 100.0))  # the jaw reaches past the left edge
    target = align_face(photo, landmarks, 128)
    pasted = paste_back(photo, torch.zeros(3, 128, 128), target.transform, target.landmarks, aligned_target=target.image)
    assert pasted.image.shape == photo.shape and torch.isfinite(pasted.image).all()
    assert pasted.mask[0, 100, 0] > 0 and pasted.mask[0, 100, 150] == 0
