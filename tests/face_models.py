"""Small synthetic Basel face model files with the real structure, for the deep3dface tests.

``BFM_model_front.mat`` as Deep3DFaceRecon's transferBFM09 writes it (here
with 120 vertices instead of 35709) and ``similarity_Lm3D_all.mat`` (68
standard 3D landmarks), with plausible face geometry in decimetres: the
landmark vertices that alignment uses sit where eyes, nose and mouth are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import savemat

VERTICES = 120
# 3D positions (x right, y up, z towards the camera) of the landmarks the five-point alignment reads.
ANCHORS = {
    36: (-0.45, 0.30, 0.30), 39: (-0.18, 0.30, 0.35),  # left eye corners
    42: (0.18, 0.30, 0.35), 45: (0.45, 0.30, 0.30),  # right eye corners
    30: (0.00, 0.00, 0.75),  # nose tip
    48: (-0.25, -0.40, 0.40), 54: (0.25, -0.40, 0.40),  # mouth corners
}


def synthetic_face(seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of a small ``BFM_model_front.mat``."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform([-0.7, -0.9, -0.4], [0.7, 0.6, 0.6], size=(VERTICES, 3))
    keypoints = rng.choice(np.arange(1, VERTICES + 1), size=68, replace=False)  # 1-based, as MATLAB stores them
    for landmark, position in ANCHORS.items():
        mean[keypoints[landmark] - 1] = position
    triangles = np.stack([np.arange(VERTICES - 2), np.arange(1, VERTICES - 1), np.arange(2, VERTICES)], 1) + 1
    return {
        "meanshape": mean.reshape(1, -1),
        "idBase": rng.normal(0, 0.02, (3 * VERTICES, 80)),
        "exBase": rng.normal(0, 0.02, (3 * VERTICES, 64)),
        "meantex": rng.uniform(0, 255, (1, 3 * VERTICES)),
        "texBase": rng.normal(0, 5, (3 * VERTICES, 80)),
        "keypoints": keypoints.reshape(1, -1).astype(np.float64),
        "tri": triangles.astype(np.float64),
        "point_buf": rng.integers(1, len(triangles) + 1, (VERTICES, 8)).astype(np.float64),
        "tri_mask2": triangles[: len(triangles) // 2].astype(np.float64),
        "frontmask2_idx": np.arange(1, VERTICES // 2 + 1, dtype=np.float64).reshape(-1, 1),
        "skinmask": (rng.uniform(size=(1, VERTICES)) > 0.5).astype(np.float64),
    }


def write_bfm(path: Path, *, without: tuple[str, ...] = (), seed: int = 0) -> Path:
    """Write a synthetic ``BFM_model_front.mat``, optionally lacking some fields."""
    arrays = {key: value for key, value in synthetic_face(seed).items() if key not in without}
    savemat(str(path), arrays)
    return path


def write_reference(path: Path, seed: int = 0) -> Path:
    """Write a ``similarity_Lm3D_all.mat``: the synthetic mean face's 68 landmarks, re-centred."""
    face = synthetic_face(seed)
    mean = face["meanshape"].reshape(-1, 3)
    landmarks = mean[face["keypoints"].reshape(-1).astype(int) - 1] - mean.mean(0)
    savemat(str(path), {"lm": landmarks})
    return path
