"""The ``ganspace`` editor: codes moved along principal components of W.

Edits follow the paper's notation E(v_i, j–k): component ``v_i`` applied to
W+ rows j…k. Two rules (``GanSpaceConfig.mode``), per the official code:

- ``additive`` (harskish/ganspace, the interactive tool and notebooks):
  δ = lat_comp[i]·lat_stdev[i]·σ is added to every chosen row; σ is the
  strength in standard deviations, so strength 0 changes nothing.
- ``set`` (danielroich/PTI and omertov/encoder4editing ``editings/ganspace.py``):
  the coordinate c = ⟨w₀ − mean, comp[i]⟩ / std[i] is computed from row 0
  only, and δ = (strength − c)·comp[i]·std[i] is added to every chosen row:
  row 0's coordinate becomes ``strength``, the other rows move by the same
  offset.

Named edits (``named_edits="ffhq"``) carry PTI's component, rows and
strength; the ``strength`` given to `edit` multiplies PTI's value, so 1.0 is
PTI's edit exactly and 0.0 (additive mode) is no edit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from lswap_core.errors import InputError
from lswap_core.interfaces import Editor

from .config import NAMED_EDITS, GanSpaceConfig, NamedEdit
from .pca import check_plan, fit_pca


class GanSpaceEditor(Editor):
    """Principal directions of W (``pc0`` … ``pc{K-1}``), additive (GANSpace) or coordinate-setting (PTI/e4e)."""

    name = "ganspace"
    description = "GANSpace: PCA directions of W (pc0...), additive or coordinate-setting (PTI) edits"
    config_class = GanSpaceConfig
    # tiny: random orthonormal components for the tiny StyleGAN2 (64-wide W), for tests.
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {"tiny": {"w_dim": 64, "components": 16}}

    # The PCA behind the directions, reachable through the registry (`lswap directions pca`).
    fit_pca = staticmethod(fit_pca)
    check_plan = staticmethod(check_plan)

    def __init__(self, config: GanSpaceConfig | None = None) -> None:
        super().__init__(config)
        k, d = self.config.components, self.config.w_dim
        # Without weights: random orthonormal rows and decreasing stdevs, a stand-in of the right shape.
        basis, _ = torch.linalg.qr(torch.randn(d, k))
        self.register_buffer("components", basis.T.contiguous())  # (K, w_dim), unit rows (lat_comp)
        self.register_buffer("mean", 0.1 * torch.randn(d))  # (w_dim,) the PCA's mean of W (lat_mean)
        self.register_buffer("stdev", torch.rand(k).sort(descending=True).values + 0.5)  # (K,) lat_stdev

    @property
    def named(self) -> dict[str, NamedEdit]:
        """The named edits this PCA offers (PTI's, for the FFHQ PCA)."""
        return NAMED_EDITS[self.config.named_edits]

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(f"pc{i}" for i in range(self.config.components)) + tuple(self.named)

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    def edit(self, ws: Tensor, direction: str, strength: float, layers: Sequence[int] | None = None) -> Tensor:
        """Move ``ws: (N, rows, w_dim)`` along ``direction``; ``layers=None`` edits every row
        (a named edit: its own rows). See the module docstring for the two modes."""
        self.check_direction(direction)
        self.check_ws(ws)
        strength = check_strength(strength)
        index, default_rows, scale = self._resolve(direction, ws.shape[1])
        rows = check_rows(layers, ws.shape[1]) if layers is not None else default_rows
        comp = self.components[index].to(ws)
        std = self.stdev[index].to(ws)
        target = torch.full(ws.shape[:1], strength * scale, dtype=ws.dtype, device=ws.device)
        if self.config.mode == "additive":
            step = target
        else:
            coord = ((ws[:, 0] - self.mean.to(ws)) * comp).sum(dim=1) / std  # from row 0 only, as PTI
            step = target - coord
        delta = step[:, None] * comp * std  # (N, w_dim), PTI's order of operations
        edited = ws.clone()
        edited[:, rows] = ws[:, rows] + delta[:, None]
        return edited

    def coordinates(self, ws: Tensor) -> Tensor:
        """Coordinates of each row in the PCA, in standard deviations: ``(N, rows, K)``."""
        self.check_ws(ws)
        return (ws - self.mean.to(ws)) @ self.components.to(ws).T / self.stdev.to(ws)

    def _resolve(self, direction: str, num_rows: int) -> tuple[int, list[int], float]:
        """Component index, default rows and strength scale of ``direction``."""
        named = self.named.get(direction)
        if named is None:
            return int(direction[2:]), list(range(num_rows)), 1.0
        if named.end > num_rows:
            raise InputError(
                f"named edit {direction!r} moves rows {named.start}-{named.end - 1}, but the codes have {num_rows} rows",
                hint="use it on codes of the FFHQ 1024 generator, or pass layers",
            )
        return named.index, list(range(named.start, named.end)), named.strength


def check_strength(strength: float) -> float:
    """``strength`` as a finite float; NaN or infinity is an `InputError`."""
    value = float(strength)
    if not math.isfinite(value):
        raise InputError(f"edit strength must be a finite number, got {strength}", hint="pass e.g. 2 or -1.5")
    return value


def check_rows(layers: Sequence[int], num_rows: int) -> list[int]:
    """W+ rows to edit, each in ``0..num_rows-1``; an `InputError` names the bad one."""
    rows = [int(row) for row in layers]
    if not rows:
        raise InputError("no layers to edit were given", hint=f"choose rows between 0 and {num_rows - 1}")
    bad = [row for row in rows if not 0 <= row < num_rows]
    if bad:
        raise InputError(f"layer {bad[0]} is outside the codes' rows 0..{num_rows - 1}", hint="choose rows in that range")
    return sorted(set(rows))
