"""The parts of the Basel face model that place the 68 landmarks, and the camera that projects them.

Deep3DFaceRecon_pytorch (sicxu, models/bfm.py ``ParametricFaceModel``)
reads ``BFM_model_front.mat``, which its ``util/load_mats.transferBFM09``
builds from the Basel Face Model 2009 and Guo et al.'s expression basis:

- ``meanshape``: ``(1, 3V)`` mean face, decimetres; re-centred on the mean vertex;
- ``idBase``: ``(3V, 80)`` identity basis; ``exBase``: ``(3V, 64)`` expression basis;
- ``keypoints``: ``(1, 68)`` 1-based vertex indices of the 68 landmarks;
- ``meantex``, ``texBase``, ``tri``, ``point_buf``... (texture and mesh,
  not needed for landmarks).

A face is ``mean + idBase·α + exBase·β``, rotated by ``Rz·Ry·Rx`` (angles
in radians), translated, then seen by a pinhole camera ``camera_distance``
away along the z axis (focal 1015 px, principal point 112 px for the
224x224 input). Only the 68 landmark vertices are kept: that is all the
shape loss needs, and it keeps exports small.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lswap_core.errors import CheckpointError

BFM_FILE = "BFM_model_front.mat"
REFERENCE_FILE = "similarity_Lm3D_all.mat"
NUM_LANDMARKS = 68
ID_DIMS, EXP_DIMS = 80, 64
_REQUIRED_FIELDS = ("meanshape", "idBase", "exBase", "keypoints")
_BFM09_FIELDS = {"shapeMU", "shapePC", "shapeEV"}
_BUILD_HINT = "build BFM_model_front.mat with Deep3DFaceRecon_pytorch's transferBFM09 (see `lswap weights fetch bfm`)"


@dataclasses.dataclass
class LandmarkModel:
    """The face model restricted to its 68 landmark vertices.

    :param mean: ``(68, 3)`` landmark positions of the (re-centred) mean face.
    :param identity_basis: ``(68, 3, 80)``.
    :param expression_basis: ``(68, 3, 64)``.
    """

    mean: Tensor
    identity_basis: Tensor
    expression_basis: Tensor


def _load_mat(path: Path, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    from scipy.io import loadmat, whosmat

    if not path.is_file():
        raise CheckpointError(f"face model file {path} does not exist", hint=_BUILD_HINT)
    try:
        present = {name for name, _, _ in whosmat(str(path))}
    except NotImplementedError:  # MATLAB 7.3 files are HDF5, which scipy does not read
        raise CheckpointError(f"{path} is a MATLAB 7.3 (HDF5) file", hint="save it with savemat (format 5), as transferBFM09 does") from None
    except (ValueError, TypeError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable .mat file ({exc})", hint=_BUILD_HINT) from None
    missing = [field for field in fields if field not in present]
    if missing:
        hint = _BUILD_HINT
        if _BFM09_FIELDS <= present:
            hint = f"{path.name} is the original BFM09 file; {_BUILD_HINT}"
        raise CheckpointError(f"{path} lacks the field(s) {', '.join(missing)} that the face model needs", hint=hint)
    return loadmat(str(path), variable_names=list(fields))


def read_landmark_model(path: str | Path) -> LandmarkModel:
    """Read the landmark part of ``BFM_model_front.mat``.

    :raises CheckpointError: for a missing file, missing fields or inconsistent shapes.
    """
    path = Path(path)
    data = _load_mat(path, _REQUIRED_FIELDS)
    mean = np.asarray(data["meanshape"], np.float64).reshape(-1)
    identity = np.asarray(data["idBase"], np.float64)
    expression = np.asarray(data["exBase"], np.float64)
    keypoints = np.asarray(data["keypoints"]).reshape(-1)
    vertices = mean.size // 3
    problems = []
    if mean.size % 3 or vertices == 0:
        problems.append(f"meanshape has {mean.size} values, not 3 per vertex")
    if identity.ndim != 2 or identity.shape[0] != mean.size or identity.shape[1] < ID_DIMS:
        problems.append(f"idBase is {identity.shape}, expected ({mean.size}, {ID_DIMS})")
    if expression.ndim != 2 or expression.shape[0] != mean.size or expression.shape[1] < EXP_DIMS:
        problems.append(f"exBase is {expression.shape}, expected ({mean.size}, {EXP_DIMS})")
    if keypoints.size != NUM_LANDMARKS or not np.all((keypoints >= 1) & (keypoints <= vertices)):
        problems.append(f"keypoints must be {NUM_LANDMARKS} vertex numbers in 1..{vertices}")
    if problems:
        raise CheckpointError(f"{path} is not a usable face model: {'; '.join(problems)}", hint=_BUILD_HINT)
    mean = mean.reshape(vertices, 3)
    mean = mean - mean.mean(axis=0, keepdims=True)  # bfm.py recenter=True
    index = keypoints.astype(np.int64) - 1  # MATLAB numbering
    identity = identity[:, :ID_DIMS].reshape(vertices, 3, ID_DIMS)
    expression = expression[:, :EXP_DIMS].reshape(vertices, 3, EXP_DIMS)
    as_tensor = lambda array: torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))  # noqa: E731
    return LandmarkModel(as_tensor(mean[index]), as_tensor(identity[index]), as_tensor(expression[index]))


def read_reference_points(path: str | Path) -> Tensor:
    """The five 3D reference points of Deep3DFaceRecon's image alignment, ``(5, 3)``.

    From ``similarity_Lm3D_all.mat`` (``lm``: 68 standard 3D landmarks), as
    util/load_mats.py ``load_lm3d`` reduces them: the two eye centres, the
    nose tip and the two mouth corners, in image order.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"alignment reference {path} does not exist", hint="see `lswap weights fetch deep3dface`")
    landmarks = np.asarray(_load_mat(path, ("lm",))["lm"], np.float64)
    if landmarks.shape != (NUM_LANDMARKS, 3):
        raise CheckpointError(f"{path}: lm is {landmarks.shape}, expected ({NUM_LANDMARKS}, 3)")
    return torch.from_numpy(five_points(landmarks).astype(np.float32))


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The five alignment points of 68 landmarks (util/preprocess.py ``extract_5p``):
    left eye centre, right eye centre, nose tip, left and right mouth corners (image order)."""
    return np.stack(
        [
            landmarks[[36, 39]].mean(0),
            landmarks[[42, 45]].mean(0),
            landmarks[30],
            landmarks[48],
            landmarks[54],
        ]
    )


def check_bfm_folder(folder: Path) -> None:
    """Content check of the ``bfm`` asset: ``BFM_model_front.mat`` has the fields and shapes needed."""
    read_landmark_model(Path(folder) / BFM_FILE)


def rotation_matrix(angles: Tensor) -> Tensor:
    """``(N, 3)`` angles (x, y, z, radians) -> ``(N, 3, 3)`` matrices ``R = Rz·Ry·Rx`` (bfm.py ``compute_rotation``, untransposed)."""
    x, y, z = angles.unbind(dim=1)
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    rot_x = torch.stack([ones, zeros, zeros, zeros, x.cos(), -x.sin(), zeros, x.sin(), x.cos()], 1).view(-1, 3, 3)
    rot_y = torch.stack([y.cos(), zeros, y.sin(), zeros, ones, zeros, -y.sin(), zeros, y.cos()], 1).view(-1, 3, 3)
    rot_z = torch.stack([z.cos(), -z.sin(), zeros, z.sin(), z.cos(), zeros, zeros, zeros, ones], 1).view(-1, 3, 3)
    return rot_z @ rot_y @ rot_x


def project(points: Tensor, *, focal: float, center: float, camera_distance: float) -> Tensor:
    """Pinhole projection of ``(N, K, 3)`` model-space points to ``(N, K, 2)`` image points.

    The camera sits ``camera_distance`` along +z looking back at the origin
    (bfm.py ``to_camera``: depth = distance - z); ``x = focal·X/depth + center``,
    likewise y. The y axis points up, as in Deep3DFaceRecon.
    """
    depth = camera_distance - points[..., 2:]
    return focal * points[..., :2] / depth + center
