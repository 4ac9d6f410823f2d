"""Swapping codes: mix source and target, apply layer control, render.

The real-photo pipeline (align → invert → mix → render → paste back) builds
on `swap_codes`; generated faces use it directly from seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from pathlib import Path

from .errors import InputError
from .interfaces import Generator, NoiseMode
from .latents import LatentSpace
from .layers import combine_codes, layer_mask
from .mixer import LatentMixer
from .precision import full_precision
from .registry import load_generator


def generator_for(
    mixer: LatentMixer,
    *,
    name: str | None = None,
    weights: str | Path | None = None,
    preset: str | None = None,
    init_seed: int | None = None,
    device: str | torch.device | None = None,
) -> Generator:
    """The generator to swap with, frozen: the one the mixer was trained with.

    Without ``weights`` and ``preset``, the generator the mixer records is
    built again (the same weights file, or the same preset and initial
    seed). A generator given by ``weights`` or ``preset`` must be that one.
    A mixer without a record (a converted official checkpoint) takes the
    generator named, checked only for the shape of its codes.

    :raises IncompatibleLatentError: when the given generator differs from the recorded one.
    :raises InputError: when the mixer records no generator and none is named.
    """
    record = mixer.trained_with.generator if mixer.trained_with is not None else None
    if weights is not None and preset is not None:
        raise InputError("--weights and --preset were both given", hint="a weights file carries its own architecture")
    if weights is None and preset is None and record is not None:
        if name is not None and name != record.name:
            raise InputError(f"the mixer was trained with a {record.name!r} generator, not {name!r}", hint="omit --generator")
        if init_seed is not None:
            raise InputError("--init-seed goes with --preset", hint="omit it to rebuild the generator the mixer was trained with")
        generator = record.rebuild(device)
    else:
        name = name or (record.name if record is not None else None)
        if name is None:
            raise InputError(
                "the mixer does not record the generator it was trained with", hint="name it with --generator and --weights"
            )
        generator = load_generator(name, weights, preset=preset, init_seed=init_seed, device=device)
        mixer.check_generator(generator)
        if record is not None:
            record.check(generator)
    return generator.requires_grad_(False)


def latent_space_for(
    mixer: LatentMixer, *, truncation_psi: float | None = None, truncation_cutoff: int | None = None
) -> LatentSpace:
    """The mixer's latent space, truncated as given or, by default, as the mixer's training sampled its codes."""
    trained = mixer.trained_with
    if truncation_psi is None:
        truncation_psi = trained.truncation_psi if trained is not None else 1.0
    if truncation_cutoff is None and trained is not None:
        truncation_cutoff = trained.truncation_cutoff
    return LatentSpace(mixer.config.space, truncation_psi, truncation_cutoff)


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
    target_ws: Tensor | None = None,
) -> Tensor:
    """W+ codes of the swap of codes ``source`` and ``target`` (in the mixer's space).

    :param groups: layer groups that take the swapped code (paper, Figure 10);
        ``None`` uses it everywhere. Other rows keep the target's code.
    :param strength: 0 keeps the target, 1 takes the swap (interpolated in W+).
    :param target_ws: the target's own W+ rows, kept where the swap does not
        reach (an inverted photo's); by default ``target`` in W+.
    """
    mixer.check_generator(generator)
    with full_precision(source.device):  # the mixer stays in float32 under autocast
        mixed = mixer(source.float(), target.float())
    swapped = space.to_wplus(generator, mixed)
    if target_ws is None:
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
    cameras: tuple[Tensor, Tensor] | None = None,
    rng: torch.Generator | None = None,
    edit: Callable[[Tensor], Tensor] | None = None,
) -> SwapResult:
    """Swap generated faces given by their noise codes ``(N, z_dim)``.

    :param cameras: for 3D-aware generators, the source's and the target's
        cameras (one row per pair); the swap is seen from the target's.
    :param rng: the random draws of ``noise_mode="random"``.
    :param edit: applied to the swap's W+ code before rendering (``lswap swap --edit``).
    """
    source, target = space.encode(generator, z_source), space.encode(generator, z_target)
    swap_ws = swap_codes(generator, mixer, space, source, target, groups=groups, strength=strength)
    if edit is not None:
        swap_ws = edit(swap_ws)
    source_ws, target_ws = space.to_wplus(generator, source), space.to_wplus(generator, target)
    source_camera, target_camera = cameras if cameras is not None else (None, None)

    def render(ws: Tensor, camera: Tensor | None) -> Tensor:
        return generator.synthesis(ws, camera=camera, noise_mode=noise_mode, rng=rng)

    return SwapResult(
        source_ws=source_ws,
        target_ws=target_ws,
        swap_ws=swap_ws,
        source_images=render(source_ws, source_camera),
        target_images=render(target_ws, target_camera),
        swap_images=render(swap_ws, target_camera),
    )
