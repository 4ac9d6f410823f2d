"""``lswap train`` and ``lswap demo``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError, InputError
from .options import ConfigOption, DryRunOption, SetOption
from .output import stdout_console


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
    dry_run: DryRunOption = False,
) -> None:
    """Train a latent mixer on randomly sampled codes (no dataset needed).

    Use --set train.steps=N to change the length of a run. Multi-process:
    torchrun --nproc-per-node N -m lswap_core train ...
    """
    from ..config import apply_overrides, dump_config, from_mapping, load_config, read_yaml
    from ..training import TrainConfig, train

    sets = list(overrides or [])
    if generator is not None:
        sets.insert(0, f"generator.name={generator}")
    if resume is not None:
        if out is not None and out.resolve() != resume.resolve():
            raise InputError("--out and --resume name different folders", hint="a resumed run writes into its own folder")
        if not (resume / "config.yaml").is_file():
            raise InputError(f"{resume} holds no training run", hint="pass the --out folder of an earlier lswap train")
        saved = read_yaml(resume / "config.yaml")
        saved.pop("kind", None)
        resolved = from_mapping(TrainConfig, apply_overrides(saved, sets))
        folder = resume
    else:
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
    result = train(resolved, folder, resume=resume is not None)
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in result.final_metrics.items() if k in ("total", "id", "lp", "shape"))
    stdout_console().print(
        f"trained {result.steps} steps in {time.perf_counter() - started:.0f} s ({metrics}); mixer: {result.export}"
    )
