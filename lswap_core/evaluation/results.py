"""What an evaluation found: per-pair values per swap setting, their summary and sample images."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor

from .metrics import nan_mean

# Summary columns: (key, heading, what it means). Table 1's ID↓ is `id_error`.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id_error", "ID↓", "retrieval error: 1 − accuracy of finding each swap's own source among all sources"),
    ("id_retrieval", "ID acc↑", "retrieval accuracy (Table 2's ID)"),
    ("id_cos_source", "cos src", "mean identity cosine of swap and source"),
    ("id_cos_target", "cos tgt", "mean identity cosine of swap and target"),
    ("expression_mse", "Expression↓", "mean squared error of the expression features, swap vs target"),
    ("pose_mse", "Pose↓", "mean squared error of yaw, pitch, roll (degrees²), swap vs target"),
    ("pose_error_deg", "pose °", "mean per-pair root of the squared angle error, in degrees"),
    ("fid", "FID↓", "Fréchet distance of the swaps' and the targets' features"),
    ("kid", "KID↓", "kernel distance (unbiased MMD², cubic kernel), mean over subsets"),
    # A sweep adds each run's final training losses (window-averaged).
    ("L_id", "L_id", "identity loss at the end of training"),
    ("L_lp", "L_lp", "latent penalty at the end of training"),
    ("lambda_lp_over_id", "λ·L_lp/L_id", "about constant across λ where L_lp ∝ L_id/λ (the paper's equilibrium)"),
)


@dataclasses.dataclass
class PairValues:
    """``(N,)`` values, one per pair; NaN where a judge could not read a face."""

    id_hit: Tensor
    cos_source: Tensor
    cos_target: Tensor
    expression_mse: Tensor
    pose_mse: Tensor

    @property
    def pose_error_deg(self) -> Tensor:
        return self.pose_mse.sqrt()

    def as_lists(self) -> dict[str, list[float]]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["pose_error_deg"] = self.pose_error_deg
        return {name: [float(v) for v in values.double()] for name, values in fields.items()}


@dataclasses.dataclass
class SettingResult:
    """One way of swapping (layer groups, strength) evaluated on every pair."""

    name: str
    values: PairValues
    fid: float | None = None
    kid: tuple[float, float] | None = None

    def summary(self) -> dict[str, float]:
        values = self.values
        accuracy = float(values.id_hit.double().mean())
        summary = {
            "id_error": 1.0 - accuracy,
            "id_retrieval": accuracy,
            "id_cos_source": nan_mean(values.cos_source),
            "id_cos_target": nan_mean(values.cos_target),
            "expression_mse": nan_mean(values.expression_mse),
            "pose_mse": nan_mean(values.pose_mse),
            "pose_error_deg": nan_mean(values.pose_error_deg),
            "fid": self.fid if self.fid is not None else math.nan,
            "kid": self.kid[0] if self.kid is not None else math.nan,
        }
        if self.kid is not None:
            summary["kid_std"] = self.kid[1]
        return summary


@dataclasses.dataclass
class EvalResult:
    """The Python API's answer (`lswap_core.evaluate`): per-pair values per setting, summaries,
    sample rows (source, target, swap, ``(3, H, W)`` in ``[-1, 1]``) and what was evaluated."""

    settings: list[SettingResult]
    samples: dict[str, list[tuple[Tensor, Tensor, Tensor]]]
    info: dict[str, Any]

    def setting(self, name: str) -> SettingResult:
        for result in self.settings:
            if result.name == name:
                return result
        raise KeyError(name)

    def table(self) -> list[dict[str, Any]]:
        """One row per setting: its name and the summary metrics."""
        return [{"setting": result.name, **result.summary()} for result in self.settings]

    def to_json(self) -> dict[str, Any]:
        return {
            "info": self.info,
            "table": self.table(),
            "pairs": {result.name: result.values.as_lists() for result in self.settings},
        }


def stack_values(rows: list[dict[str, Tensor]]) -> PairValues:
    return PairValues(**{name: torch.cat([row[name] for row in rows]) for name in rows[0]})
