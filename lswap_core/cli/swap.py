"""``lswap swap``: swap faces with a trained mixer, in photos or between generated faces."""

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
    SetOption,
    SwapGeneratorOption,
    SwapTruncCutoffOption,
    SwapTruncOption,
    SwapWeightsOption,
)
from .output import stdout_console


def swap_command(
    mixer: MixerOption,
    source: Annotated[
        Path | None, typer.Option("--source", help="Photo (or folder of photos) whose identity goes in.", show_default=False)
    ] = None,
    target: Annotated[
        Path | None, typer.Option("--target", help="Photo (or folder) that receives it; its size is kept.", show_default=False)
    ] = None,
    source_seed: Annotated[int | None, typer.Option("--source-seed", help="A generated source face instead.", show_default=False)] = None,
    target_seed: Annotated[int | None, typer.Option("--target-seed", help="A generated target face instead.", show_default=False)] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Image to write; a folder when --source or --target is a folder.")
    ] = Path("swap.png"),
    generator: SwapGeneratorOption = None,
    weights: SwapWeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    layers: Annotated[
        str, typer.Option("--layers", help="Layer groups that take the swap: coarse, middle, fine1, fine2 or all.")
    ] = "all",
    strength: Annotated[float, typer.Option("--strength", help="0 keeps the target, 1 takes the full swap.")] = 1.0,
    inverter: Annotated[str, typer.Option("--inverter", "-i", help="Inverter for photos: pti, e4e...")] = "pti",
    inverter_weights: Annotated[
        str | None, typer.Option("--inverter-weights", help="Inverter export or asset name (e4e: e4e-ffhq).", show_default=False)
    ] = None,
    inverter_preset: Annotated[
        str | None, typer.Option("--inverter-preset", help="pti: official, fast, draft, tiny; e4e: tiny.", show_default=False)
    ] = None,
    sets: SetOption = None,
    source_face: Annotated[
        int | None, typer.Option("--source-face", help="Face of the source photo, from 0 left to right (default: the largest).", show_default=False)
    ] = None,
    target_face: Annotated[
        str | None, typer.Option("--target-face", help="Face of the target photo (a number), or all (default: the largest).", show_default=False)
    ] = None,
    pairs: Annotated[str, typer.Option("--pairs", help="With folders: all (every source with every target), zip, or a CSV of source,target.")] = "all",
    mask_blur: Annotated[float, typer.Option("--mask-blur", help="Feathered edge of the face mask, pixels of a 1024² crop.")] = 40.0,
    mask_grow: Annotated[float, typer.Option("--mask-grow", help="Grow (or, negative, shrink) the face mask, pixels of a 1024² crop.")] = 0.0,
    color: Annotated[str, typer.Option("--color", help="Colour correction of the swapped face: mean-std or none.")] = "mean-std",
    grid: Annotated[bool, typer.Option("--grid", help="Also write source | target | swap (| inverted target) side by side.")] = False,
    views: Annotated[
        str | None,
        typer.Option("--views", help="3D-aware generators: a row per view, e.g. front,left,right (with seeds).", show_default=False),
    ] = None,
    edits: Annotated[
        list[str] | None,
        typer.Option("--edit", help="Edit the swap before rendering: DIRECTION=STRENGTH, repeatable (e.g. --edit smile=+2).", show_default=False),
    ] = None,
    editor: Annotated[str, typer.Option("--editor", help="Editor of --edit: interfacegan, ganspace...")] = "interfacegan",
    directions: Annotated[
        str | None, typer.Option("--directions", help="The editor's directions: an export or asset name.", show_default=False)
    ] = None,
    editor_preset: Annotated[
        str | None, typer.Option("--editor-preset", help="Named editor settings when no --directions.", show_default=False)
    ] = None,
    turntable: Annotated[
        int | None,
        typer.Option("--turntable", help="3D-aware generators: N frames around the head, as a grid and an animated GIF.", show_default=False),
    ] = None,
    save_aligned: Annotated[bool, typer.Option("--save-aligned", help="Also write the aligned source, target and swap.")] = False,
    save_codes: Annotated[bool, typer.Option("--save-codes", help="Also write the codes and the tuned generator tensors.")] = False,
    analyzer: Annotated[str, typer.Option("--analyzer", help="Face analyzer that finds the faces.")] = "faceapi",
    analyzer_weights: Annotated[str, typer.Option("--analyzer-weights", help="Its export or asset name.")] = "faceapi",
    embedder: Annotated[str, typer.Option("--embedder", help="Identity embedder of the report.")] = "faceapi",
    embedder_weights: Annotated[str, typer.Option("--embedder-weights", help="Its export or asset name.")] = "faceapi",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the inversion's random draws.")] = 0,
    precision: Annotated[
        str, typer.Option("--precision", help="Render, invert and judge images in fp32, bf16 or fp16 (the mixer stays fp32).")
    ] = "fp32",
    trunc: SwapTruncOption = None,
    trunc_cutoff: SwapTruncCutoffOption = None,
    noise_mode: NoiseModeOption = "const",
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Swap the identity of a source face into a target face.

    With photos (--source/--target), each face is found, FFHQ-aligned and
    inverted into the generator (--inverter), the codes are mixed, the swap is
    rendered with the inverted (PTI-tuned) generator and pasted back into the
    target photo under a soft face mask; a JSON report (identity, pose, mask,
    inversion quality, timings, everything needed to reproduce it) goes
    beside it. Folders make a batch: outputs are named TARGET__SOURCE.png in
    --out, existing ones are skipped (a re-run resumes) and a failing pair is
    reported while the others go on. With two seeds, the generated faces are
    swapped directly.
    """
    from ..precision import check_precision

    check_precision(precision)
    if source is None and target is None:
        if views is not None or turntable is not None:
            from .multiview import swap_views

            return swap_views(mixer, source_seed, target_seed, out, generator, weights, preset, init_seed, layers, strength,
                              trunc, trunc_cutoff, views, turntable, embedder, embedder_weights, device, overwrite,
                              edit_options=(edits or [], editor, directions, editor_preset), precision=precision)
        return _swap_seeds(mixer, source_seed, target_seed, out, generator, weights, preset, init_seed, layers, strength,
                           trunc, trunc_cutoff, noise_mode, grid, device, overwrite, (edits or [], editor, directions, editor_preset),
                           precision)
    if views is not None or turntable is not None:
        from ..errors import InputError

        raise InputError("--views and --turntable go with generated faces", hint="use --source-seed and --target-seed")
    from .photo_swap import swap_photos_command

    swap_photos_command(
        mixer=mixer, source=source, target=target, source_seed=source_seed, target_seed=target_seed, out=out,
        generator=generator, weights=weights, preset=preset, init_seed=init_seed, layers=layers, strength=strength,
        inverter=inverter, inverter_weights=inverter_weights, inverter_preset=inverter_preset, sets=sets or [],
        source_face=source_face, target_face=target_face, pairs=pairs, mask_blur=mask_blur, mask_grow=mask_grow,
        color=color, grid=grid, save_aligned=save_aligned, save_codes=save_codes, analyzer=analyzer,
        analyzer_weights=analyzer_weights, embedder=embedder, embedder_weights=embedder_weights, seed=seed,
        trunc=trunc, trunc_cutoff=trunc_cutoff, device=device, overwrite=overwrite,
        edit_options=(edits or [], editor, directions, editor_preset), precision=precision,
    )


def _swap_seeds(
    mixer: Path, source_seed: int | None, target_seed: int | None, out: Path, generator: str | None, weights: Path | None,
    preset: str | None, init_seed: int | None, layers: str, strength: float, trunc: float | None, trunc_cutoff: int | None,
    noise_mode: str, grid: bool, device: str, overwrite: bool, edit_options: tuple[list[str], str, str | None, str | None],
    precision: str = "fp32",
) -> None:
    """Two generated faces, swapped directly (no inversion)."""
    import torch

    from ..errors import InputError
    from ..imaging import save_image, save_labelled_grid
    from ..latents import check_seed, z_from_seeds
    from ..layers import parse_groups
    from ..swapping import swap_from_noise
    from ..editing import parse_edit
    from ..precision import autocast, check_precision
    from .common import check_noise_mode, check_output_file, load_swapper
    from .edit import edit_function

    if source_seed is None or target_seed is None:
        raise InputError("give a source and a target", hint="--source PHOTO or --source-seed N, and --target PHOTO or --target-seed N")
    check_output_file(out, overwrite=overwrite)
    check_seed(source_seed, "--source-seed")
    check_seed(target_seed, "--target-seed")
    groups = parse_groups(layers)
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"--strength must be between 0 and 1, got {strength}")
    mode = check_noise_mode(noise_mode)
    for text in edit_options[0]:
        parse_edit(text)  # a malformed --edit fails before anything loads
    gen, mix, space = load_swapper(mixer, generator, weights, preset, init_seed, trunc, trunc_cutoff, device)
    edit = edit_function(*edit_options, gen)
    z = z_from_seeds([source_seed, target_seed], gen.z_dim).to(gen.device)
    with autocast(gen.device, check_precision(precision)):
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
            edit=edit,
        )
    if grid:
        save_labelled_grid([[result.source_images[0], result.target_images[0], result.swap_images[0]]], ["source", "target", "swap"], out)
    else:
        save_image(out, result.swap_images[0])
    stdout_console().print(f"wrote {out}")
