"""InterFaceGAN boundaries: the edit rules, conditional manipulation and reading boundary files.

A boundary is the unit normal ``n`` of a linear SVM's hyperplane in W, stored
as a ``(1, D)`` array (genforce/interfacegan ``utils/manipulator.py``; the SVM
intercept is discarded). The rules here restate ``linear_interpolate`` and
``project_boundary`` of that file (Shen et al., "Interpreting the Latent Space
of GANs for Semantic Face Editing", CVPR 2020, Sec. 2.2 and 2.3).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from lswap_core.errors import CheckpointError, InputError
from lswap_core.legacy_pickle import load_checkpoint

EditMode = Literal["additive", "set"]
UNIT_TOLERANCE = 1e-4  # |‖n‖ − 1| accepted: train_boundary normalises in float32
PAIR_EPSILON = 1e-8  # the official two-condition denominator 1 − (c1·c2)² + 1e-8
# Official file names: {gan}_{dataset}_{attribute}[_w]_boundary.npy; `_w` marks W, no mark Z.
_OFFICIAL_NAME = re.compile(
    r"^(?P<gan>[a-z0-9]*gan[a-z0-9]*)_(?P<dataset>[a-z0-9]+)_(?P<attribute>.+?)(?P<w>_w)?_boundary$"
)


def move_along(ws: Tensor, n: Tensor, strength: float, rows: list[int], mode: EditMode) -> Tensor:
    """Move rows ``rows`` of ``ws: (N, L, D)`` along the unit ``n: (D,)``.

    ``additive``: w + strength·n (``linear_interpolate`` on a W+ code, PTI/e4e's
    InterFaceGAN edit). ``set``: w + (strength − ⟨w, n⟩)·n per row, so that every
    edited row ends at signed distance ``strength`` from the hyperplane through
    the origin (``linear_interpolate`` on a W code). Computed in float64, as the
    official code mixes float32 codes with float64 boundaries.
    """
    wide = ws.to(torch.float64)
    n = n.to(device=ws.device, dtype=torch.float64)
    chosen = wide[:, rows]
    if mode == "additive":
        moved = chosen + strength * n
    else:
        distance = chosen @ n  # (N, len(rows))
        moved = chosen + (strength - distance).unsqueeze(-1) * n
    out = wide.clone()
    out[:, rows] = moved
    return out.to(ws.dtype)


def project_boundary(primal: Tensor, *conditions: Tensor) -> Tensor:
    """The unit direction of ``primal`` with the ``conditions`` projected out (all ``(1, D)`` units).

    Editing along it leaves the conditioned attributes' scores unchanged
    (InterFaceGAN Sec. 2.3). One condition: p − (p·c)c. Two: p − αc1 − βc2 with
    the official closed form and its 1e-8 in the denominator. Three or more:
    p − xᵀC with x = solve(C Cᵀ, C pᵀ). The result is normalised.
    """
    width = primal.shape[-1]
    for vector in (primal, *conditions):
        if vector.ndim != 2 or vector.shape[0] != 1 or vector.shape[1] != width:
            raise InputError(f"boundaries must all be (1, {width}), got {tuple(vector.shape)}")
    p = primal.to(torch.float64)
    conds = [c.to(device=p.device, dtype=torch.float64) for c in conditions]
    if not conds:
        return primal
    if len(conds) == 1:
        new = p - (p @ conds[0].T) * conds[0]
    elif len(conds) == 2:
        c1, c2 = conds
        p1, p2, c12 = p @ c1.T, p @ c2.T, c1 @ c2.T
        denominator = 1 - c12**2 + PAIR_EPSILON
        new = p - (p1 - p2 * c12) / denominator * c1 - (p2 - p1 * c12) / denominator * c2
    else:
        stacked = torch.cat(conds)  # (K, D)
        try:
            x = torch.linalg.solve(stacked @ stacked.T, stacked @ p.T)  # (K, 1)
        except RuntimeError:  # torch.linalg.LinAlgError: C Cᵀ is singular
            raise InputError(
                "the condition boundaries are linearly dependent", hint="drop a repeated condition"
            ) from None
        new = p - x.T @ stacked
    norm = torch.linalg.vector_norm(new)
    if not bool(torch.isfinite(norm)) or float(norm) < 1e-6:
        raise InputError("the direction lies in the span of its conditions", hint="condition on other directions")
    return (new / norm).to(primal.dtype)


def boundary_name(path: Path) -> str:
    """The direction name of a boundary file: the attribute of an official name
    (``stylegan_ffhq_smile_w_boundary.npy`` → ``smile``, ``..._age_c_gender_boundary`` → ``age_c_gender``),
    else the file's stem without ``_boundary`` (PTI/e4e's ``age.pt`` → ``age``)."""
    stem = path.name.rsplit(".", 1)[0].lower()
    official = _OFFICIAL_NAME.match(stem)
    if official:
        return official.group("attribute")
    return stem.removesuffix("_boundary")


def is_z_space_file(path: Path) -> bool:
    """An official file name without the ``_w`` mark: a boundary of Z, which W codes cannot use."""
    official = _OFFICIAL_NAME.match(path.name.rsplit(".", 1)[0].lower())
    return official is not None and official.group("w") is None


def read_boundary(path: Path) -> Tensor:
    """The unit boundary ``(D,)`` (float32) of an official ``.npy`` or a PTI/e4e ``.pt`` direction.

    ``.npy`` files are read with ``allow_pickle=False``; ``.pt`` files through
    the restricted unpickler, so nothing in either is executed. e4e's
    ``pose.pt`` is one boundary repeated on 18 rows, ``(1, 18, 512)``; identical
    rows are taken as that one boundary.
    """
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise CheckpointError(
                f"{path} is not a plain .npy array ({reason})", hint="pass an InterFaceGAN boundary .npy"
            ) from None
        if array.dtype.kind != "f":
            raise CheckpointError(
                f"{path} holds a {array.dtype} array, not a float boundary", hint="pass an InterFaceGAN boundary .npy"
            )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    else:
        loaded = load_checkpoint(path)
        if not isinstance(loaded, Tensor):
            raise CheckpointError(
                f"{path} holds a {type(loaded).__name__}, not a direction tensor",
                hint="pass a (1, D) direction such as PTI's editings/interfacegan_directions/age.pt",
            )
        if not loaded.is_floating_point():
            raise CheckpointError(f"{path} holds a {loaded.dtype} tensor, not a float direction")
        tensor = loaded
    return check_unit_boundary(tensor, path)


def check_unit_boundary(tensor: Tensor, path: Path | str) -> Tensor:
    """``tensor`` as a ``(D,)`` float32 unit vector, or a `CheckpointError` saying what it is."""
    shape = tuple(tensor.shape)
    if tensor.ndim == 3 and shape[0] == 1 and shape[1] >= 1 and bool((tensor[0] == tensor[0, :1]).all()):
        tensor = tensor[0, :1]  # one boundary repeated on every W+ row (e4e's pose.pt)
    if tensor.ndim != 2 or tensor.shape[0] != 1 or tensor.shape[1] < 1:
        raise CheckpointError(
            f"{path} holds an array of shape {shape}, not a (1, D) boundary", hint="pass one boundary per file"
        )
    vector = tensor[0].to(torch.float64)
    if not bool(torch.isfinite(vector).all()):
        raise CheckpointError(f"{path} holds non-finite values, not a boundary")
    norm = float(torch.linalg.vector_norm(vector))
    if abs(norm - 1.0) > UNIT_TOLERANCE:
        raise CheckpointError(
            f"{path} holds a (1, {vector.numel()}) vector of norm {norm:.4g}, not a unit boundary",
            hint="InterFaceGAN boundaries are unit normals; normalise it first",
        )
    return (vector / norm).to(torch.float32)
