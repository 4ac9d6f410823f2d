"""Swapping codes: mix source and target, apply layer control, render.

The real-photo pipeline (align → invert → mix → render → paste back) builds
on `swap_codes`; generated faces use it directly from seeds.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .interfaces import Generator, NoiseMode
from .latents import LatentSpace
from .layers import combine_codes, layer_mask
from .mixer import LatentMixer


@dataclasses.dataclass
class SwapResult:
    """W+ codes of the source, target and swap, and their images ``(N, 3, R, R)``."""

    source_ws: Tensor
    target_ws: Tensor
    swap_ws: Tensor
    source_images: Tensor
    target_images: Tensor
    swap_images: Tensor


def swap_codes(
    generator: Generator,
    mixer: LatentMixer,
    space: LatentSpace,
    source: Tensor,
    target: Tensor,
    *,
    groups: list[str] | None = None,
    strength: float = 1.0,
) -> Tensor:
    """W+ codes of the swap of codes ``source`` and ``target`` (in the mixer's space).

    :param groups: layer groups that take the swapped code (paper, Figure 10);
        ``None`` uses it everywhere. Other rows keep the target's code.
    :param strength: 0 keeps the target, 1 takes the swap (interpolated in W+).
    """
    mixer.check_generator(generator)
    swapped = space.to_wplus(generator, mixer(source, target))
    target_ws = space.to_wplus(generator, target)
    mask = layer_mask(generator.layer_resolutions, groups) if groups is not None else None
    return combine_codes(target_ws, swapped, mask, strength)


@torch.no_grad()
def swap_from_noise(
    generator: Generator,
    mixer: LatentMixer,
    space: LatentSpace,
    z_source: Tensor,
    z_target: Tensor,
    *,
    groups: list[str] | None = None,
    strength: float = 1.0,
    noise_mode: NoiseMode = "const",
) -> SwapResult:
    """Swap generated faces given by their noise codes ``(N, z_dim)``."""
    source, target = space.encode(generator, z_source), space.encode(generator, z_target)
    swap_ws = swap_codes(generator, mixer, space, source, target, groups=groups, strength=strength)
    source_ws, target_ws = space.to_wplus(generator, source), space.to_wplus(generator, target)
    return SwapResult(
        source_ws=source_ws,
        target_ws=target_ws,
        swap_ws=swap_ws,
        source_images=generator.synthesis(source_ws, noise_mode=noise_mode),
        target_images=generator.synthesis(target_ws, noise_mode=noise_mode),
        swap_images=generator.synthesis(swap_ws, noise_mode=noise_mode),
    )
