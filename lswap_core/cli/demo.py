"""``lswap demo``: train the tiny configuration and show what it learned."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import InputError
from .options import DeviceOption, OverwriteOption
from .output import stdout_console

DEMO_PAIRS = 6


def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's files.")] = Path("lswap-demo"),
    steps: Annotated[int | None, typer.Option("--steps", help="Training steps (default: the tiny config's).")] = None,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Train a mixer on the built-in tiny configuration and write swaps, a loss curve and a summary.

    With randomly initialised tiny networks the images are abstract, not
    faces; see the README for the real recipe with pretrained weights.
    """

    from ..config import load_config
    from ..files import atomic_write_text
    from ..devices import resolve_device
    from ..imaging import save_labelled_grid
    from ..latents import LatentSpace, z_from_seeds
    from ..mixer import load_mixer
    from ..plots import line_chart
    from ..swapping import swap_from_noise
    from ..training import read_metrics, train, window_mean

    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file", hint="choose a folder for --out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} is not empty", hint="pass --overwrite to replace the demo there, or choose another --out")
    overrides = [f"train.device={device}"] + ([f"train.steps={steps}"] if steps is not None else [])
    config = load_config("tiny", overrides, kind="train")
    started = time.perf_counter()
    result = train(config, out / "run", overwrite=overwrite)
    seconds = time.perf_counter() - started

    torch_device = resolve_device(device)
    mixer = load_mixer(result.export, device=torch_device)
    assert mixer.trained_with is not None  # lswap train records the generator
    generator = mixer.trained_with.generator.rebuild(torch_device)
    space = LatentSpace(config.mixer.space, config.sampling.truncation_psi, config.sampling.truncation_cutoff)
    z_source = z_from_seeds(list(range(DEMO_PAIRS)), generator.z_dim).to(torch_device)
    z_target = z_from_seeds(list(range(100, 100 + DEMO_PAIRS)), generator.z_dim).to(torch_device)
    swaps = swap_from_noise(generator, mixer, space, z_source, z_target)
    rows = [[swaps.source_images[i], swaps.target_images[i], swaps.swap_images[i]] for i in range(DEMO_PAIRS)]
    save_labelled_grid(rows, ["source", "target", "swap"], out / "swaps.png")

    records = read_metrics(out / "run" / "metrics.jsonl")
    train_records = [r for r in records if r["split"] == "train"]
    terms = [key for key in ("total", "id", "lp", "shape") if key in train_records[0]]
    line_chart(
        {key: [(r["step"], r[key]) for r in train_records] for key in terms},
        out / "loss_curve.png",
        title="training losses",
        log_y=True,
    )
    window = max(len(train_records) // 10, 1)
    table = Table("loss", "first steps", "last steps", title=f"lswap demo: {result.steps} steps in {seconds:.0f} s")
    summary = [f"# lswap demo\n\n{result.steps} steps in {seconds:.0f} s on {torch_device}.\n", "| loss | first steps | last steps |", "|---|---|---|"]
    for key in terms:
        first = sum(r[key] for r in train_records[:window]) / window
        last = window_mean(records, key, window)
        table.add_row(key, f"{first:.4g}", f"{last:.4g}")
        summary.append(f"| {key} | {first:.4g} | {last:.4g} |")
    summary.append("\nFiles: swaps.png, loss_curve.png, run/ (mixer.safetensors, metrics.jsonl, samples/).\n")
    atomic_write_text(out / "summary.md", "\n".join(summary) + "\n")
    console = stdout_console()
    console.print(table)
    console.print(f"wrote {out / 'swaps.png'}, {out / 'loss_curve.png'}, {out / 'summary.md'} and the run in {out / 'run'}")
