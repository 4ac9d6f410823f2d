"""``lswap train``: train a latent mixer, or continue a run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError, InputError
from .options import ConfigOption, DryRunOption, OverwriteOption, SetOption
from .output import stderr_console, stdout_console


def train_command(
    config: ConfigOption = None,
    overrides: SetOption = None,
    generator: Annotated[
        str | None, typer.Option("--generator", "-g", help="Registered generator name (sets generator.name).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the run.", show_default=False)] = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue the run saved in this folder.", show_default=False)
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Train to this many steps (sets train.steps).", show_default=False)
    ] = None,
    device: Annotated[
        str | None,
        typer.Option("--device", help="cpu, cuda, cuda:1... or auto (sets train.device; default: the config's).", show_default=False),
    ] = None,
    allow_changes: Annotated[
        bool,
        typer.Option(
            "--allow-changes",
            help="With --resume: accept changed optimizer settings (after a divergence); the run then differs from an uninterrupted one.",
        ),
    ] = False,
    overwrite: OverwriteOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Train a latent mixer on randomly sampled codes (no dataset needed).

    Multi-process: torchrun --nproc-per-node N -m lswap_core train ...
    """
    from ..config import apply_overrides, dump_config, from_mapping, load_config, read_yaml
    from ..training import TrainConfig, Trainer

    sets = list(overrides or [])
    if generator is not None:
        sets.insert(0, f"generator.name={generator}")
    if steps is not None:
        sets.append(f"train.steps={steps}")
    if device is not None:
        sets.append(f"train.device={device}")
    if resume is not None:
        if config is not None:
            raise InputError("--config goes with a new run", hint="a resumed run keeps its own config; change run settings with --set")
        if overwrite:
            raise InputError("--overwrite starts a new run, --resume continues one", hint="choose one")
        if out is not None and out.resolve() != resume.resolve():
            raise InputError("--out and --resume name different folders", hint="a resumed run writes into its own folder")
        if not (resume / "config.yaml").is_file():
            raise InputError(f"{resume} holds no training run", hint="pass the --out folder of an earlier lswap train")
        saved = read_yaml(resume / "config.yaml")
        saved.pop("kind", None)
        resolved = from_mapping(TrainConfig, apply_overrides(saved, sets))
        folder = resume
    else:
        if allow_changes:
            raise InputError("--allow-changes goes with --resume", hint="a new run takes any settings")
        if config is None:
            raise ConfigError("no config given", hint="pass --config FILE or a built-in name such as tiny or ffhq1024")
        if out is None and not dry_run:
            raise InputError("no output folder given", hint="pass --out DIR")
        resolved = load_config(config, sets, kind="train")
        folder = out
    if dry_run:
        typer.echo(dump_config(resolved), nl=False)
        return
    started = time.perf_counter()
    trainer = Trainer(resolved, folder, resume=resume is not None, overwrite=overwrite, allow_changes=allow_changes)
    for path, reason in trainer.skipped_states:
        stderr_console().print(f"[yellow]warning:[/yellow] passed over {path} ({reason})")
    if trainer.resumed_from is not None:
        stderr_console().print(f"resuming from {trainer.resumed_from}")
    for key, (old, new) in trainer.changes.items():
        stderr_console().print(f"[yellow]changed:[/yellow] {key} {old} -> {new}; the run now differs from an uninterrupted one")
    result = trainer.run()
    trainer.dist.close()
    console = stdout_console()
    if result.steps_done == 0:
        console.print(f"nothing to do: the run is at step {result.steps} of {result.steps}; mixer: {result.export}")
        return
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in result.final_metrics.items() if k in ("total", "id", "lp", "shape"))
    span = f" ({result.start_step} -> {result.steps})" if result.start_step else ""
    console.print(
        f"trained {result.steps_done} steps{span} in {time.perf_counter() - started:.0f} s ({metrics}); mixer: {result.export}"
    )
