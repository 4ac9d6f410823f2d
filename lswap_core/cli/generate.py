"""``lswap generate``: images (and their W+ codes) from seeds.

A seed gives the same z on every machine: ``numpy.random.RandomState(seed)
.randn(1, z_dim)``, the convention of NVlabs' ``generate.py``, so a converted
official network renders the same image for the same seed, truncation and
``--noise-mode const`` as NVlabs' script. Each seed is rendered on its own,
so an image never depends on which other seeds were asked for.

Nothing is written until every image is done: files go to a temporary folder
beside ``--out`` and are moved into place at the end, and existing files are
never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from ..errors import CheckpointError, InputError
from .options import (
    DeviceOption,
    GeneratorOption,
    InitSeedOption,
    NoiseModeOption,
    OutDirOption,
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
    device: DeviceOption = "auto",
) -> None:
    """Render images from seeds with a generator; writes seedNNNN.png (and codes) into --out."""
    import torch

    from ..checkpoints import save_export
    from ..devices import resolve_device
    from ..latents import z_from_seeds
    from ..progress import track
    from .common import build_generator, check_noise_mode

    seed_list = parse_seeds(seeds)
    mode = check_noise_mode(noise_mode)
    if weights is None and preset is None:
        raise InputError(
            "no network given", hint="pass --weights FILE (an export from `lswap convert`) or --preset NAME"
        )
    names = [f"seed{seed:04d}.png" for seed in seed_list]
    if save_latents:
        names += [f"seed{seed:04d}.safetensors" for seed in seed_list]
    _check_output(out, names)

    target = resolve_device(device)
    model = build_generator(generator, weights, preset, target, init_seed=init_seed)
    with _staging(out) as staging:
        for seed in track(seed_list, "generating"):
            z = z_from_seeds([seed], model.z_dim).to(target)
            with torch.no_grad():
                ws = model.mapping(z, truncation_psi=trunc, truncation_cutoff=trunc_cutoff)
                # --noise-mode random: noise drawn from the seed too.
                image = model.synthesis(ws, noise_mode=mode, rng=torch.Generator(device=target).manual_seed(seed))
            _write_png(staging / f"seed{seed:04d}.png", image)
            if save_latents:
                save_export(
                    staging / f"seed{seed:04d}.safetensors",
                    kind="latent",
                    name=generator,
                    config={
                        "seed": seed,
                        "truncation_psi": trunc,
                        "truncation_cutoff": trunc_cutoff,
                        "noise_mode": noise_mode,
                    },
                    tensors={"ws": ws},
                    provenance={"weights": str(weights) if weights else f"preset {preset}, init seed {init_seed or 0}"},
                )
    stdout_console().print(f"wrote {len(seed_list)} image(s) to {out}")


def _write_png(path: Path, image) -> None:  # noqa: ANN001 - a torch tensor
    from PIL import Image

    from ..imaging import to_uint8

    Image.fromarray(to_uint8(image)[0].numpy(), "RGB").save(path)


def _check_output(out: Path, names: list[str]) -> None:
    """Refuse before any work when --out is a file or would have files overwritten."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", hint="choose a folder")
    clashes = [name for name in names if (out / name).exists()]
    if clashes:
        shown = ", ".join(clashes[:3]) + (f" and {len(clashes) - 3} more" if len(clashes) > 3 else "")
        raise InputError(f"{out} already has {shown}", hint="choose another --out or remove those files")


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` whose files move into ``out`` only if the block succeeds."""
    from ..files import umask_mode

    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    try:
        staging.chmod(umask_mode(0o777))  # becomes --out: give it a folder's usual permissions
        yield staging
        if not out.exists():
            os.rename(staging, out)
            return
        for item in sorted(staging.iterdir()):
            os.replace(item, out / item.name)
    except OSError as exc:
        raise CheckpointError(
            f"could not write to {out}: {exc.strerror or exc}", hint="free disk space or choose another --out"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
