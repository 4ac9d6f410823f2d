"""``lswap analyze``: what each part of a swap does."""

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

app = typer.Typer(help="Analyse trained mixers.", no_args_is_help=True)


@app.command("layers")
def layers_command(
    mixer: MixerOption,
    source_seeds: Annotated[str, typer.Option("--source-seeds", help="Seeds of generated sources, e.g. 0-3.")] = "0-3",
    target_seeds: Annotated[str, typer.Option("--target-seeds", help="Seeds of generated targets, one per source.")] = "100-103",
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("layers.png"),
    generator: SwapGeneratorOption = None,
    weights: SwapWeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    trunc: SwapTruncOption = None,
    trunc_cutoff: SwapTruncCutoffOption = None,
    noise_mode: NoiseModeOption = "const",
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """The paper's Figure 10: the swap applied to one layer group at a time (target code elsewhere)."""
    import torch

    from ..errors import InputError
    from ..imaging import save_labelled_grid
    from ..latents import z_from_seeds
    from ..layers import LAYER_GROUPS, group_of
    from ..swapping import swap_codes
    from .common import check_noise_mode, check_output_file, load_swapper
    from .options import parse_seeds

    check_output_file(out, overwrite=overwrite)
    sources, targets = parse_seeds(source_seeds), parse_seeds(target_seeds)
    if len(sources) != len(targets):
        raise InputError(f"{len(sources)} source seeds but {len(targets)} target seeds", hint="give one target per source")
    mode = check_noise_mode(noise_mode)
    gen, mix, space = load_swapper(mixer, generator, weights, preset, init_seed, trunc, trunc_cutoff, device)
    torch_device = gen.device
    present = [name for name in LAYER_GROUPS if any(group_of(r) == name for r in gen.layer_resolutions)]
    with torch.no_grad():
        source = space.encode(gen, z_from_seeds(sources, gen.z_dim).to(torch_device))
        target = space.encode(gen, z_from_seeds(targets, gen.z_dim).to(torch_device))
        columns = [space.to_wplus(gen, source), space.to_wplus(gen, target), swap_codes(gen, mix, space, source, target)]
        columns += [swap_codes(gen, mix, space, source, target, groups=[name]) for name in present]
        images = [gen.synthesis(ws, noise_mode=mode) for ws in columns]
    rows = [[column[i] for column in images] for i in range(len(sources))]
    save_labelled_grid(rows, ["source", "target", "swap", *(f"{name} only" for name in present)], out)
    stdout_console().print(f"wrote {out} (groups: {', '.join(present)})")
