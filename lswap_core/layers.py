"""Layer-wise control: which W+ rows take the swapped code (paper, Figure 10).

Rows are grouped by the output resolution of the layer they drive, read from
the generator's ``layer_resolutions`` (never hard-coded): coarse 4²–8²,
middle 16²–32², fine1 64²–128², fine2 256²–1024² and above.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .errors import InputError

LAYER_GROUPS: dict[str, tuple[int, int]] = {
    "coarse": (4, 8),
    "middle": (16, 32),
    "fine1": (64, 128),
    "fine2": (256, 1 << 30),
}


def group_of(resolution: int) -> str:
    """The group of a layer that outputs ``resolution``² pixels."""
    for name, (_, high) in LAYER_GROUPS.items():
        if resolution <= high:
            return name
    raise ValueError(f"resolution {resolution} has no layer group")


def parse_groups(text: str | Sequence[str]) -> list[str]:
    """``'coarse,middle'`` or a list of names -> checked group names; ``'all'`` is every group."""
    names = [part.strip() for part in (text.split(",") if isinstance(text, str) else text) if part.strip()]
    if names == ["all"]:
        return list(LAYER_GROUPS)
    unknown = [name for name in names if name not in LAYER_GROUPS]
    if unknown or not names:
        raise InputError(
            f"unknown layer group {unknown[0]!r}" if unknown else "no layer group given",
            hint=f"choose from: {', '.join(LAYER_GROUPS)}, or all",
        )
    return names


def layer_mask(layer_resolutions: Sequence[int], groups: Sequence[str], *, allow_empty: bool = False) -> Tensor:
    """Boolean ``(num_ws,)`` mask of the rows that belong to ``groups``."""
    wanted = set(parse_groups(groups))
    mask = torch.tensor([group_of(res) in wanted for res in layer_resolutions], dtype=torch.bool)
    if not allow_empty:
        for name in wanted:
            if not any(group_of(res) == name for res in layer_resolutions):
                present = sorted({group_of(res) for res in layer_resolutions}, key=list(LAYER_GROUPS).index)
                raise InputError(
                    f"this generator has no {name} layers (its layers drive {min(layer_resolutions)}²–"
                    f"{max(layer_resolutions)}²)",
                    hint=f"its groups: {', '.join(present)}",
                )
    return mask


def combine_codes(target: Tensor, swapped: Tensor, mask: Tensor | None = None, strength: float = 1.0) -> Tensor:
    """Target codes with the masked rows moved ``strength`` of the way to the swapped codes.

    :param target: ``(N, num_ws, w_dim)``.
    :param swapped: same shape.
    :param mask: ``(num_ws,)`` booleans; ``None`` takes every row.
    :param strength: 0 keeps the target, 1 takes the swapped code.
    """
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"strength must be between 0 and 1, got {strength}")
    weight = torch.full((target.shape[1],), float(strength), dtype=target.dtype, device=target.device)
    if mask is not None:
        weight = weight * mask.to(device=target.device, dtype=target.dtype)
    return target + weight[None, :, None] * (swapped - target)
