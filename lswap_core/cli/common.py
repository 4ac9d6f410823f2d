"""Helpers shared by commands: building components from command-line options."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import torch

    from ..interfaces import Generator, NoiseMode
    from ..latents import LatentSpace
    from ..mixer import LatentMixer

NOISE_MODES = ("const", "random", "none")


def build_generator(name: str, weights: Path | None, preset: str | None, device: torch.device) -> Generator:
    """The generator named on the command line, from weights or a preset, on ``device``."""
    from ..registry import load_generator

    if weights is not None and preset is not None:
        raise InputError("--weights and --preset were both given", hint="a weights file carries its own architecture")
    generator = load_generator(name, str(weights) if weights is not None else None, preset=preset)
    return generator.to(device).requires_grad_(False)


def check_noise_mode(value: str) -> NoiseMode:
    if value not in NOISE_MODES:
        raise InputError(f"unknown noise mode {value!r}", hint=f"use one of: {', '.join(NOISE_MODES)}")
    return value  # type: ignore[return-value]


def check_output_file(path: Path, suffix: str = ".png") -> Path:
    """An output file path whose folder exists, checked before any work starts."""
    if path.suffix.lower() != suffix:
        raise InputError(f"output {path} must end in {suffix}")
    if not path.parent.exists():
        raise InputError(f"folder {path.parent} does not exist", hint="create it or choose another --out")
    return path


def load_swapper(
    mixer: Path,
    generator: str,
    weights: Path | None,
    preset: str | None,
    trunc: float,
    trunc_cutoff: int | None,
    device: str,
) -> tuple[Generator, LatentMixer, LatentSpace]:
    """A trained mixer, the generator it must fit (checked) and the latent space it mixes in."""
    from ..devices import resolve_device
    from ..latents import LatentSpace
    from ..mixer import load_mixer

    torch_device = resolve_device(device)
    mix = load_mixer(mixer, device=torch_device)
    gen = build_generator(generator, weights, preset, torch_device)
    mix.check_generator(gen)
    return gen, mix, LatentSpace(mix.config.space, trunc, trunc_cutoff)
