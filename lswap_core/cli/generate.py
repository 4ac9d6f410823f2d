"""``lswap generate``: images (and their W+ codes) from seeds.

A seed gives the same z on every machine: ``numpy.random.RandomState(seed)
.randn(1, z_dim)``, the convention of NVlabs' ``generate.py``, so a converted
official network renders the same image for the same seed, truncation and
``--noise-mode const`` as NVlabs' script. Each seed is rendered on its own,
so an image never depends on which other seeds were asked for.

Each file is written atomically as its seed is done. Seeds whose files are
already in ``--out`` are skipped, so an interrupted command, run again,
finishes the rest; ``--overwrite`` renders them again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from .options import (
    DeviceOption,
    GeneratorOption,
    InitSeedOption,
    NoiseModeOption,
    OutDirOption,
    OverwriteOption,
    PresetOption,
    TruncCutoffOption,
    TruncOption,
    WeightsOption,
    parse_seeds,
)
from .output import stdout_console


def generate_command(
    out: OutDirOption,
    generator: GeneratorOption = "stylegan2",
    weights: WeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds, like 0-7 or 1,4,9-11.")] = "0-7",
    trunc: TruncOption = 1.0,
    trunc_cutoff: TruncCutoffOption = None,
    noise_mode: NoiseModeOption = "const",
    save_latents: Annotated[
        bool, typer.Option("--save-latents", help="Also write each W+ code as seedNNNN.safetensors.")
    ] = False,
    views: Annotated[
        str | None,
        typer.Option("--views", help="3D-aware generators: views to render, e.g. front,left,right (seedNNNN_VIEW.png).", show_default=False),
    ] = None,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Render images from seeds with a generator; writes seedNNNN.png (and codes) into --out.

    Seeds whose files are there already are skipped (an interrupted command
    finishes the rest); --overwrite renders them again.
    """
    import torch

    from ..checkpoints import save_export
    from ..devices import resolve_device
    from ..latents import z_from_seeds
    from ..progress import track
    from ..views import parse_views
    from .common import build_generator, check_noise_mode

    seed_list = parse_seeds(seeds)
    mode = check_noise_mode(noise_mode)
    if weights is None and preset is None:
        raise InputError(
            "no network given", hint="pass --weights FILE (an export from `lswap convert`) or --preset NAME"
        )
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", hint="choose a folder")

    view_names = [name.strip() for name in views.split(",") if name.strip()] if views is not None else [None]

    def outputs(seed: int) -> list[Path]:
        files = [out / (f"seed{seed:04d}.png" if name is None else f"seed{seed:04d}_{name}.png") for name in view_names]
        return files + [out / f"seed{seed:04d}.safetensors"] if save_latents else files

    todo = [seed for seed in seed_list if overwrite or not all(path.exists() for path in outputs(seed))]
    skipped = len(seed_list) - len(todo)
    if not todo:
        stdout_console().print(f"nothing to do: every image is in {out} already (--overwrite renders them again)")
        return
    target = resolve_device(device)
    model = build_generator(generator, weights, preset, target, init_seed=init_seed)
    cameras = parse_views(model, views) if views is not None else [(None, None)]
    out.mkdir(parents=True, exist_ok=True)
    for seed in track(todo, "generating"):
        z = z_from_seeds([seed], model.z_dim).to(target)
        with torch.no_grad():
            ws = model.mapping(z, truncation_psi=trunc, truncation_cutoff=trunc_cutoff)
            # --noise-mode random: noise drawn from the seed too.
            images = [
                model.synthesis(ws, camera=None if camera is None else camera.to(target), noise_mode=mode,
                                rng=torch.Generator(device=target).manual_seed(seed))
                for _, camera in cameras
            ]
        files = outputs(seed)
        pngs = files[: len(cameras)]
        if save_latents:
            save_export(
                files[-1],
                kind="latent",
                name=generator,
                config={"seed": seed, "truncation_psi": trunc, "truncation_cutoff": trunc_cutoff, "noise_mode": noise_mode},
                tensors={"ws": ws},
                provenance={"weights": str(weights) if weights else f"preset {preset}, init seed {init_seed or 0}"},
            )
        for png, image in zip(pngs, images):  # last: a seed counts as done once its images are there
            _write_png(png, image)
    note = f", skipped {skipped} already there" if skipped else ""
    stdout_console().print(f"wrote {len(todo)} image(s) to {out}{note}")


def _write_png(path: Path, image) -> None:  # noqa: ANN001 - a torch tensor
    from PIL import Image

    from ..files import atomic_path
    from ..imaging import to_uint8

    with atomic_path(path) as temp:
        Image.fromarray(to_uint8(image)[0].numpy(), "RGB").save(temp, format="PNG")
