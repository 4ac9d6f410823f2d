"""Helpers shared by commands: building components from command-line options."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    import torch

    from ..interfaces import Generator, NoiseMode
    from ..latents import LatentSpace
    from ..mixer import LatentMixer

NOISE_MODES = ("const", "random", "none")


def build_generator(
    name: str, weights: Path | None, preset: str | None, device: torch.device, *, init_seed: int | None = None
) -> Generator:
    """The generator named on the command line, from weights or a preset (initialised from ``init_seed``), on ``device``."""
    from ..registry import load_generator

    if weights is not None and preset is not None:
        raise InputError("--weights and --preset were both given", hint="a weights file carries its own architecture")
    if weights is not None and init_seed is not None:
        raise InputError("--init-seed goes with --preset", hint="a weights file holds its values already")
    generator = load_generator(name, str(weights) if weights is not None else None, preset=preset, init_seed=init_seed)
    return generator.to(device).requires_grad_(False)


def check_noise_mode(value: str) -> NoiseMode:
    if value not in NOISE_MODES:
        raise InputError(f"unknown noise mode {value!r}", hint=f"use one of: {', '.join(NOISE_MODES)}")
    return value  # type: ignore[return-value]


def check_output_file(path: Path, *, overwrite: bool, suffix: str = ".png") -> Path:
    """An output file path, checked before any work starts: the right suffix, an existing
    folder, and no file there already unless ``overwrite`` (lswap's one overwrite policy)."""
    if path.suffix.lower() != suffix:
        raise InputError(f"output {path} must end in {suffix}")
    if path.is_dir():
        raise InputError(f"{path} is a folder", hint="give the path of the file to write")
    if not path.parent.exists():
        raise InputError(f"folder {path.parent} does not exist", hint="create it or choose another --out")
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists", hint="pass --overwrite to replace it, or choose another path")
    return path


def load_swapper(
    mixer: Path,
    generator: str | None,
    weights: Path | None,
    preset: str | None,
    init_seed: int | None,
    trunc: float | None,
    trunc_cutoff: int | None,
    device: str,
) -> tuple[Generator, LatentMixer, LatentSpace]:
    """A trained mixer, the generator it was trained with (rebuilt, or the given one checked)
    and the latent space it mixes in (by default truncated as in its training)."""
    from ..devices import resolve_device
    from ..mixer import load_mixer
    from ..swapping import generator_for, latent_space_for

    if weights is not None and init_seed is not None:
        raise InputError("--init-seed goes with --preset", hint="a weights file holds its values already")
    torch_device = resolve_device(device)
    mix = load_mixer(mixer, device=torch_device)
    gen = generator_for(
        mix,
        name=generator,
        weights=str(weights) if weights is not None else None,
        preset=preset,
        init_seed=init_seed,
        device=torch_device,
    )
    return gen, mix, latent_space_for(mix, truncation_psi=trunc, truncation_cutoff=trunc_cutoff)


def component_options(sets: list[str], section: str, command: str, example: str) -> dict[str, Any]:
    """``--set SECTION.KEY=VALUE`` overrides as keyword options of one component (an inverter, an editor)."""
    from ..config import parse_override
    from ..errors import ConfigError

    options: dict[str, Any] = {}
    for text in sets:
        path, value = parse_override(text)
        if path[0] != section or len(path) != 2:
            raise ConfigError(f"--set {text!r}: lswap {command} takes {section} options only", hint=f"e.g. --set {example}")
        options[path[1]] = value
    return options
