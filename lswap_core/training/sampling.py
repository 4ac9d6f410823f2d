"""What each training step draws: source and target noise, cameras, and the seeds behind them.

Every random draw of step ``k`` comes from generators seeded with
``step_seed(seed, k)``, so a resumed run reproduces an uninterrupted one
and several processes see the same global batch as one process. Negative
"steps" seed what is drawn once per run (the mixer's initial weights, the
validation pairs); networks without weights are initialised from the run's
seed itself, as ``--init-seed`` of the other commands would.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..interfaces import Generator

# Negative step numbers of the draws made once per run.
VALIDATION_PAIRS, MIXER_INIT = -1, -5


def step_seed(seed: int, step: int) -> int:
    """A distinct, reproducible seed for each step of a run."""
    return (seed * 1_000_003 + step * 7919 + 17) % (2**63)


def seeded(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A random number generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


def sample_pairs(z_dim: int, batch: int, probability_same: float, rng: torch.Generator) -> tuple[Tensor, Tensor]:
    """Source and target ``z`` of shape ``(batch, z_dim)``; each pair identical with the given probability."""
    source = torch.randn(batch, z_dim, generator=rng)
    target = torch.randn(batch, z_dim, generator=rng)
    same = torch.rand(batch, generator=rng) < probability_same
    return source, torch.where(same[:, None], source, target)


def sample_pair_cameras(
    generator: Generator, batch: int, rng: torch.Generator, mode: str = "pair"
) -> tuple[Tensor, Tensor] | None:
    """Cameras of the source and target images of ``batch`` pairs, or ``None`` for a single-view generator.

    The swap is always rendered from the target's camera, since it keeps the
    target's pose. ``mode`` (``sampling.cameras``): ``pair`` draws one camera
    per pair from the generator's pose distribution for source and target
    alike, ``each`` one per image, ``front`` uses the front view throughout.
    """
    if not generator.supports_camera:
        return None
    if mode == "front":
        front = generator.named_views["front"]
        cameras = front.expand(batch, *front.shape[1:]).clone()
        return cameras, cameras
    if mode == "pair":
        cameras = generator.sample_cameras(batch, rng=rng)
        return cameras, cameras
    cameras = generator.sample_cameras(2 * batch, rng=rng)
    return cameras[:batch], cameras[batch:]
