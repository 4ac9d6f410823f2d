"""The ``interfacegan`` editor: named unit boundaries in W (Shen et al., CVPR 2020).

Directions come from an export made by ``lswap convert`` from official
boundary files (see `convert`), or from the ``tiny`` preset (random unit
directions in a 64-wide W, for tests). Two edit rules, chosen by ``mode``:

- ``additive`` (default): w + strength·n on the chosen rows; the official
  ``linear_interpolate`` on W+ codes, and what PTI/e4e do with these files.
- ``set``: w + (strength − ⟨w, n⟩)·n row by row; the official rule for W
  codes, which places every edited row at signed distance ``strength`` from
  the hyperplane (so strength 0 moves codes onto it, not nowhere).

``condition_on`` names directions whose attributes an edit keeps: every
other direction is first projected off them (`project_boundary`, the
paper's conditional manipulation, Sec. 2.3). `direction_vector` gives the
vector an edit uses.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from lswap_core.errors import InputError
from lswap_core.interfaces import Editor

from .boundaries import EditMode, boundary_name, move_along, project_boundary
from .fitting import metadata_path, save_boundary, train_boundary


@dataclasses.dataclass
class InterFaceGANConfig:
    w_dim: int = 512  # width of the W codes the boundaries were fitted in
    names: tuple[str, ...] = ("age", "smile", "rotation")  # one per row of `boundaries`
    mode: EditMode = "additive"  # additive: W+ / PTI rule; set: the official W-code rule
    condition_on: tuple[str, ...] = ()  # directions an edit keeps unchanged (conditional manipulation)

    def __post_init__(self) -> None:
        if self.w_dim < 1:
            raise ValueError(f"w_dim must be positive, got {self.w_dim}")
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError(f"names must be distinct and not empty, got {list(self.names)}")
        unknown = [name for name in self.condition_on if name not in self.names]
        if unknown:
            raise ValueError(f"condition_on names unknown directions {unknown}; known: {', '.join(self.names)}")


class InterFaceGANEditor(Editor):
    """InterFaceGAN boundaries in W, applied additively (W+) or by setting the distance (W)."""

    name = "interfacegan"
    description = "InterFaceGAN: unit SVM boundaries in W (official .npy, PTI/e4e .pt directions)"
    config_class = InterFaceGANConfig
    presets: ClassVar[dict[str, dict[str, object]]] = {"tiny": {"w_dim": 64}}


    # Fitting boundaries, reachable through the registry (`lswap directions fit`).
    train_boundary = staticmethod(train_boundary)
    save_boundary = staticmethod(save_boundary)
    boundary_name = staticmethod(boundary_name)
    metadata_path = staticmethod(metadata_path)
    def __init__(self, config: InterFaceGANConfig | None = None) -> None:
        super().__init__(config)
        # Random unit rows until an export's boundaries are loaded over them.
        initial = F.normalize(torch.randn(len(self.config.names), self.config.w_dim), dim=1)
        self.register_buffer("boundaries", initial)  # (K, w_dim), unit rows

    @property
    def directions(self) -> tuple[str, ...]:
        return self.config.names

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    def direction_vector(self, direction: str, conditions: Sequence[str] | None = None) -> Tensor:
        """The unit ``(w_dim,)`` vector an edit along ``direction`` moves by.

        :param conditions: directions to project off (default: ``condition_on``
            less ``direction`` itself); ``[]`` gives the plain boundary.
        """
        self.check_direction(direction)
        if conditions is None:
            conditions = [name for name in self.config.condition_on if name != direction]
        for name in conditions:
            self.check_direction(name)
        primal = self.boundaries[self.directions.index(direction)].unsqueeze(0)
        if not conditions:
            return primal[0]
        conds = [self.boundaries[self.directions.index(name)].unsqueeze(0) for name in conditions]
        return project_boundary(primal.double(), *(c.double() for c in conds))[0].to(primal.dtype)

    def edit(self, ws: Tensor, direction: str, strength: float, layers: Sequence[int] | None = None) -> Tensor:
        self.check_direction(direction)
        self.check_ws(ws)
        if not math.isfinite(strength):
            raise InputError(f"strength must be a finite number, got {strength}")
        rows = list(range(ws.shape[1])) if layers is None else [int(layer) for layer in layers]
        outside = [row for row in rows if not 0 <= row < ws.shape[1]]
        if outside:
            raise InputError(
                f"layers {outside} are outside 0..{ws.shape[1] - 1}", hint=f"these codes have {ws.shape[1]} rows"
            )
        return move_along(ws, self.direction_vector(direction), float(strength), rows, self.config.mode)
