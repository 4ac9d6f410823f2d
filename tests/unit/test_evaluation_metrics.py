"""The evaluation's metrics against hand-computed values and float64 reference formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lswap_core.evaluation.metrics import (
    Gaussian,
    frechet_distance,
    kernel_inception_distance,
    mmd2_unbiased,
    nan_mean,
    retrieval_hits,
    row_cosines,
    squared_errors,
)
from lswap_core.face_attributes import POSE_MODEL, head_angles


def unit(rows):
    x = torch.tensor(rows, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def test_retrieval_on_planted_embeddings():
    sources = unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    # swap 0 sits near source 0, swap 1 near source 2 (a miss: its source is 1), swap 2 near source 2
    swaps = unit([[0.9, 0.1, 0.0], [0.1, 0.2, 0.9], [0.0, 0.3, 0.8]])
    hits = retrieval_hits(swaps, sources, torch.tensor([0, 1, 2]))
    assert hits.tolist() == [True, False, True]
    assert float(hits.double().mean()) == pytest.approx(2 / 3)


def test_cosines_and_squared_errors_by_hand():
    a = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    b = torch.tensor([[4.0, 3.0], [0.0, 2.0]])
    assert row_cosines(a, b).tolist() == pytest.approx([24 / 25, 0.0])
    assert squared_errors(a, b).tolist() == pytest.approx([(1 + 1) / 2, (1 + 4) / 2])
    assert nan_mean(torch.tensor([1.0, math.nan, 3.0])) == 2.0 and math.isnan(nan_mean(torch.tensor([math.nan])))


def reference_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula in float64 numpy: tr((Σx Σy)^½) from the eigenvalues of the product."""
    mu_x, mu_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    eigenvalues = np.linalg.eigvals(cov_x @ cov_y)
    root_trace = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(cov_x) + np.trace(cov_y) - 2 * root_trace)


@pytest.mark.parametrize(("n", "dim"), [(50, 8), (40, 64), (12, 30)])  # the last is rank-deficient, as small sets are
def test_frechet_distance_matches_the_float64_formula(n, dim):
    rng = np.random.default_rng(dim)
    x = rng.normal(size=(n, dim))
    y = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim)) * 0.5 + 0.3
    found = frechet_distance(Gaussian.fit(torch.from_numpy(x).float()), Gaussian.fit(torch.from_numpy(y).float()))
    # inputs pass through float32 features; the reference sees the same float32 values
    expected = reference_fid(torch.from_numpy(x).float().double().numpy(), torch.from_numpy(y).float().double().numpy())
    assert found == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_frechet_distance_of_shifted_copies_is_the_squared_shift():
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5, 0.0], dtype=torch.float64)
    assert frechet_distance(Gaussian.fit(x), Gaussian.fit(x)) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(Gaussian.fit(x), Gaussian.fit(x + shift)) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_mmd2_unbiased_by_hand():
    x = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)

    def k(a, b):
        return (float(a @ b) / 2 + 1) ** 3

    m = 3
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, 16, generator=generator), torch.randn(200, 16, generator=generator)
    same_mean, same_std = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    shifted_mean, _ = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=100)
    assert abs(same_mean) < 3 * same_std + 1e-3 and shifted_mean > 10 * abs(same_mean)
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(a[:1], b)


def landmarks_of(yaw: float, pitch: float, roll: float) -> torch.Tensor:
    """The pose model's points turned by yaw (about y), pitch (about x), roll (about z), projected
    orthographically into pixels (y down) at 0.2 px per model unit around (128, 128)."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    # a positive yaw turns the face's forward axis (+z) toward the image's right (+x), a positive
    # pitch toward the top (+y, the model's y is up)
    ry = torch.tensor([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]], dtype=torch.float64)
    rx = torch.tensor([[1, 0, 0], [0, math.cos(-p), -math.sin(-p)], [0, math.sin(-p), math.cos(-p)]], dtype=torch.float64)
    rz = torch.tensor([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]], dtype=torch.float64)
    points = torch.zeros(68, 2, dtype=torch.float64)
    for index, point in POSE_MODEL:
        turned = rz @ rx @ ry @ torch.tensor(point, dtype=torch.float64)
        points[index] = torch.tensor([128 + 0.2 * turned[0], 128 - 0.2 * turned[1]])
    return points


@pytest.mark.parametrize(("yaw", "pitch", "roll"), [(0, 0, 0), (20, 0, 0), (-15, 0, 0), (0, 10, 0), (0, -12, 0),
                                                    (0, 0, 15), (0, 0, -8)])
def test_head_angles_of_known_rotations(yaw, pitch, roll):
    assert head_angles(landmarks_of(yaw, pitch, roll)) == pytest.approx((yaw, pitch, roll), abs=0.5)


def test_head_angles_of_a_combined_rotation():
    # roll is read as the in-plane angle of the face's left-right axis, which yaw and pitch
    # together tilt a little: only yaw and pitch are exact
    yaw, pitch, roll = head_angles(landmarks_of(18, -7, 5))
    assert (yaw, pitch) == pytest.approx((18, -7), abs=0.5) and roll == pytest.approx(5, abs=3)
