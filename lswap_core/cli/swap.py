"""``lswap swap``: swap faces with a trained mixer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import (
    DeviceOption,
    InitSeedOption,
    MixerOption,
    NoiseModeOption,
    OverwriteOption,
    PresetOption,
    SwapGeneratorOption,
    SwapTruncCutoffOption,
    SwapTruncOption,
    SwapWeightsOption,
)
from .output import stdout_console


def swap_command(
    mixer: MixerOption,
    source_seed: Annotated[int, typer.Option("--source-seed", help="Seed of the generated source face.")],
    target_seed: Annotated[int, typer.Option("--target-seed", help="Seed of the generated target face.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("swap.png"),
    generator: SwapGeneratorOption = None,
    weights: SwapWeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    layers: Annotated[
        str, typer.Option("--layers", help="Layer groups that take the swap: coarse, middle, fine1, fine2 or all.")
    ] = "all",
    strength: Annotated[float, typer.Option("--strength", help="0 keeps the target, 1 takes the full swap.")] = 1.0,
    trunc: SwapTruncOption = None,
    trunc_cutoff: SwapTruncCutoffOption = None,
    noise_mode: NoiseModeOption = "const",
    grid: Annotated[bool, typer.Option("--grid", help="Write source | target | swap side by side.")] = False,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Swap the identity of a generated source face into a generated target face."""
    import torch

    from ..errors import InputError
    from ..imaging import save_image, save_labelled_grid
    from ..latents import check_seed, z_from_seeds
    from ..layers import parse_groups
    from ..swapping import swap_from_noise
    from .common import check_noise_mode, check_output_file, load_swapper

    check_output_file(out, overwrite=overwrite)
    check_seed(source_seed, "--source-seed")
    check_seed(target_seed, "--target-seed")
    groups = parse_groups(layers)
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"--strength must be between 0 and 1, got {strength}")
    mode = check_noise_mode(noise_mode)
    gen, mix, space = load_swapper(mixer, generator, weights, preset, init_seed, trunc, trunc_cutoff, device)
    z = z_from_seeds([source_seed, target_seed], gen.z_dim).to(gen.device)
    result = swap_from_noise(
        gen,
        mix,
        space,
        z[:1],
        z[1:],
        groups=None if layers == "all" else groups,
        strength=strength,
        noise_mode=mode,
        rng=torch.Generator(device=gen.device).manual_seed(target_seed),  # --noise-mode random: seeded too
    )
    if grid:
        save_labelled_grid([[result.source_images[0], result.target_images[0], result.swap_images[0]]], ["source", "target", "swap"], out)
    else:
        save_image(out, result.swap_images[0])
    stdout_console().print(f"wrote {out}")
