"""``lswap directions pca``: GANSpace's PCA of a generator's W, written as the official ``.npz``.

The samples are the official ones (seeded blocks of z, mapped without
truncation; see ``lswap_plugins.ganspace.pca``), fitted chunk by chunk with
incremental PCA. The fit is kept beside ``--out`` (``NAME.partial.npz``)
after each chunk, so an interrupted command, run again with the same
settings, continues where it stopped; ``--overwrite`` starts afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from .options import DeviceOption, GeneratorOption, InitSeedOption, OverwriteOption, PresetOption, WeightsOption


def pca_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The .npz to write (official GANSpace fields).", show_default=False)],
    generator: GeneratorOption = "stylegan2",
    weights: WeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    samples: Annotated[int, typer.Option("--samples", "-n", help="W samples (the official default is 300000).")] = 300_000,
    components: Annotated[int, typer.Option("--components", "-k", help="Principal components to keep.")] = 80,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed; 0 is the official default (seed 1).")] = 0,
    block: Annotated[
        int, typer.Option("--block", help="Codes per sampling seed, the official -b; the samples depend on it.")
    ] = 10_000,
    batch: Annotated[int, typer.Option("--batch", help="Codes mapped at once (memory only).")] = 1_000,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Fit GANSpace's PCA of a generator's W and write it as an official .npz (its components are pc0, pc1...)."""
    from ..devices import resolve_device
    from ..progress import progress_bar
    from ..registry import get_registry
    from .common import build_generator, check_output_file
    from .output import stdout_console

    if weights is None and preset is None:
        raise InputError("no generator network given", hint="pass --weights FILE or --preset NAME")
    check_output_file(out, overwrite=overwrite, suffix=".npz")
    state = out.with_name(out.name[: -len(".npz")] + ".partial.npz")
    if overwrite:
        state.unlink(missing_ok=True)
    # Through the registry: the host imports no plugin, and a missing one is a clear error.
    pca = get_registry("editor").get("ganspace").cls
    model = build_generator(generator, weights, preset, resolve_device(device), init_seed=init_seed)
    plan = pca.check_plan(samples, components, seed, block, model.w_dim)  # fail before any sampling
    resumed = state.exists()
    with progress_bar(plan.seen, "sampling W, fitting PCA") as bar:
        reported = 0

        def progress(done: int, total: int) -> None:
            nonlocal reported
            bar.advance(done - reported)
            reported = done

        result = pca.fit_pca(model, samples, components, seed, batch, block=block, progress=progress, state_path=state)
    result.save(out)
    note = " (continued from a saved fit)" if resumed else ""
    stdout_console().print(f"wrote {components} components of {plan.seen} W samples to {out}{note}")
