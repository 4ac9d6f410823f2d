"""Codes in the mixer's latent space (paper, Table 1: Z, W or W+).

The mixer works on ``w+`` codes ``(N, num_ws, w_dim)``, on single W codes
``(N, w_dim)`` (broadcast to every W+ row) or on ``z`` codes ``(N, z_dim)``
(rendered through the mapping network). `LatentSpace` turns noise into codes
of the chosen space and any such code into W+ rows for the generator.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from .errors import InputError
from .interfaces import Generator, NoiseMode

SpaceName = Literal["w+", "w", "z"]
MAX_SEED = 2**32 - 1  # numpy's RandomState takes seeds up to this


def check_seed(seed: int, what: str = "seed") -> int:
    """``seed`` when it is a valid image seed, else an `InputError` naming ``what``."""
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"{what} {seed} is out of range", hint=f"seeds go from 0 to {MAX_SEED}")
    return seed


def z_from_seeds(seeds: list[int], z_dim: int) -> Tensor:
    """``(len(seeds), z_dim)`` noise, one row per seed, equal on every machine.

    Uses NVlabs' convention (``np.random.RandomState(seed).randn(1, z_dim)``),
    so a seed gives the same face here as in their ``generate.py``.
    """
    for seed in seeds:
        check_seed(seed)
    rows = [np.random.RandomState(seed).randn(1, z_dim) for seed in seeds]
    return torch.from_numpy(np.concatenate(rows)).float()


@dataclasses.dataclass(frozen=True)
class LatentSpace:
    """A latent space plus the truncation used when mapping noise into it."""

    name: SpaceName = "w+"
    truncation_psi: float = 1.0
    truncation_cutoff: int | None = None

    def encode(self, generator: Generator, z: Tensor) -> Tensor:
        """Codes of this space for noise ``z: (N, z_dim)``."""
        if self.name == "z":
            return z
        ws = generator.mapping(z, truncation_psi=self.truncation_psi, truncation_cutoff=self.truncation_cutoff)
        return ws if self.name == "w+" else ws[:, 0]

    def to_wplus(self, generator: Generator, codes: Tensor) -> Tensor:
        """W+ rows ``(N, num_ws, w_dim)`` for codes of this space."""
        if self.name == "z":
            return generator.mapping(codes, truncation_psi=self.truncation_psi, truncation_cutoff=self.truncation_cutoff)
        if self.name == "w":
            return codes[:, None].expand(-1, generator.num_ws, -1)
        return codes

    def render(
        self,
        generator: Generator,
        codes: Tensor,
        noise_mode: NoiseMode = "const",
        *,
        camera: Tensor | None = None,
        rng: torch.Generator | None = None,
    ) -> Tensor:
        """Images ``(N, 3, R, R)`` of codes of this space.

        :param camera: for 3D-aware generators, one camera per code (see
            `Generator.sample_cameras`); ``None`` renders the default view.
        :param rng: the random generator of ``noise_mode="random"``.
        """
        return generator.synthesis(self.to_wplus(generator, codes), camera=camera, noise_mode=noise_mode, rng=rng)
