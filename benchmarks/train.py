"""``lswap bench train``: training steps of lswap's trainer beside the official recipe's way.

For each configuration, in a fresh process each: pairs per second over a few
steps after a warm-up step, and the process's peak memory, of

- the baseline, as the official code trains: the mixer as one ``nn.Sequential``
  per W+ row, NVlabs' reference synthesis path, AdamW's default (foreach) step;
- lswap's trainer as it runs: the stacked mixer, the fast synthesis path, fused AdamW.

Everything else is the same: components, batch, losses, clipping, seeds.
Configurations: ``tiny`` (the built-in config), ``256`` (a paper256
StyleGAN2 with the full smoothswap embedder, randomly initialised) and
``1024`` (the paper's 1024² config-F generator, smoothswap, no shape model,
batch 32: a GPU configuration). ``--precision bf16|fp16`` runs lswap's
trainer under that autocast (the official way stays float32). Beside pairs/s:
the hours the paper's recipe (200k steps of 64 pairs) would take at that rate.

Then, in the same process after the timed steps, the same steps again with a
`StageTimer` attached: lswap's step split by stage. The timer waits for the
device at every stage boundary, so it runs apart from the pairs/s it would slow.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

CONFIGS = {
    "tiny": ["train.batch_size=8"],
    "256": [
        "generator.preset=paper256",
        "embedder.name=smoothswap",
        "embedder.options={}",
        "mixer.hidden=[1024, 1024, 512, 512]",
        "train.batch_size=4",
    ],
    "1024": [
        "generator.preset=ffhq1024",
        "embedder.name=smoothswap",
        "embedder.options={}",
        "mixer.hidden=[1024, 1024, 512, 512]",
        "train.batch_size=32",
    ],
}
RECIPE_PAIRS = 200_000 * 64  # the paper's training: 200k steps of 64 pairs

_MEASURE = """
import json, sys
from lswap_benchmarks.train import measure
print(json.dumps(measure({config!r}, {variant!r}, {steps}, {threads}, {device!r}, {precision!r})))
"""


def measure(
    config_name: str, variant: str, steps: int, threads: int | None, device: str = "cpu", precision: str = "fp32"
) -> dict[str, Any]:
    """Seconds per training step and peak memory of one configuration and variant (run in a fresh process).

    For lswap's trainer also ``stages_ms`` (milliseconds per step in each stage) and
    ``instrumented_step_ms`` (the step time while they were measured).
    """
    import functools
    import tempfile
    import time

    import torch

    from lswap_core.config import load_config
    from lswap_core.training import Trainer
    from lswap_core.training.stage_timer import StageTimer

    from .common import peak_rss_gib, set_threads, synchronize
    from .mixer import official_layout

    set_threads(threads)
    lswap_precision = precision if variant == "lswap" else "fp32"
    overrides = [*CONFIGS[config_name], f"train.device={device}", f"train.steps={steps + 1}", f"train.precision={lswap_precision}"]
    config = load_config("tiny", overrides, kind="train")
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, folder)
        if variant == "baseline":
            generator = trainer.generator
            mixer = official_layout(generator.num_ws, generator.w_dim, config.mixer.hidden)
            trainer.mixer = mixer  # type: ignore[assignment]
            trainer.optimizer = torch.optim.AdamW(mixer.parameters(), lr=config.optim.lr, foreach=True)  # type: ignore[attr-defined]
            # The generator's `synthesis` name is also its submodule's, so set the bound method past nn.Module.
            object.__setattr__(generator, "synthesis", functools.partial(type(generator).synthesis, generator, impl="reference"))
        torch_device = trainer.device
        trainer.train_step(0)  # warm-up
        if torch_device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(torch_device)
        synchronize(torch_device)
        started = time.perf_counter()
        for step in range(1, steps + 1):
            trainer.train_step(step)
        synchronize(torch_device)
        seconds = (time.perf_counter() - started) / steps
        peak = torch.cuda.max_memory_allocated(torch_device) / 2**30 if torch_device.type == "cuda" else peak_rss_gib()
        pairs_per_s = config.train.batch_size / seconds
        result = {"step_s": seconds, "pairs_per_s": pairs_per_s, "peak_gib": peak, "recipe_hours": RECIPE_PAIRS / pairs_per_s / 3600}
        if variant == "lswap":
            trainer.stage_timer = timer = StageTimer(torch_device)
            started = time.perf_counter()
            for step in range(1, steps + 1):
                trainer.train_step(step)
            synchronize(torch_device)
            result["instrumented_step_ms"] = (time.perf_counter() - started) / steps * 1000
            result["stages_ms"] = {name: total / steps * 1000 for name, total in timer.seconds.items()}
    return result


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_benchmark(
        configs: Annotated[str, typer.Option(help="Configurations: tiny and/or 256, comma separated.")] = "tiny,256",
        steps: Annotated[int, typer.Option(help="Timed training steps per run, after one warm-up step.")] = 5,
        threads: Annotated[int, typer.Option(help="Intra-op threads (0: all cores).")] = 0,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1...; auto picks cuda when available.")] = "auto",
        precision: Annotated[str, typer.Option(help="lswap's training precision: fp32, bf16 or fp16.")] = "fp32",
        json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    ) -> None:
        """Pairs per second and peak memory of training steps, lswap beside the official way; lswap's step by stage."""
        from lswap_core.devices import resolve_device
        from lswap_core.precision import PRECISIONS

        from .common import print_table, run_fresh

        if precision not in PRECISIONS:
            raise typer.BadParameter(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
        target = str(resolve_device(device))

        rows, stage_rows, report = [], [], {}
        for name in configs.split(","):
            if name not in CONFIGS:
                raise typer.BadParameter(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
            results = {
                variant: run_fresh(_MEASURE.format(config=name, variant=variant, steps=steps, threads=threads or None,
                                                   device=target, precision=precision))
                for variant in ("baseline", "lswap")
            }
            base, ours = results["baseline"], results["lswap"]
            report[name] = results
            stage_rows += _stage_rows(name, ours)
            rows.append(
                (
                    name,
                    base["pairs_per_s"],
                    ours["pairs_per_s"],
                    ours["pairs_per_s"] / base["pairs_per_s"],
                    base["peak_gib"],
                    ours["peak_gib"],
                    base["recipe_hours"],
                    ours["recipe_hours"],
                )
            )
        if json_output:
            typer.echo(json.dumps({"device": target, "precision": precision, "steps": steps, "configs": report}))
            return
        print_table(
            f"training step, {target}, lswap in {precision}, {steps} steps after a warm-up, each run in a fresh process",
            ["config", "official pairs/s", "lswap pairs/s", "speed-up", "official peak GiB", "lswap peak GiB",
             "official recipe h", "lswap recipe h"],
            rows,
        )
        print_table(
            f"lswap's step by stage, {target}, {precision}: the same steps again, synchronised at each stage boundary",
            ["config", "stage", "ms/step", "% of step"],
            stage_rows,
        )


def _stage_rows(config: str, result: dict[str, Any]) -> list[tuple[str, str, float, float]]:
    """Table rows of one configuration's stages; ``other`` is the step time no stage holds (checks, metrics)."""
    step = result["instrumented_step_ms"]
    stages = {**result["stages_ms"], "other": step - sum(result["stages_ms"].values())}
    return [(config, stage, ms, 100 * ms / step) for stage, ms in stages.items()] + [(config, "step", step, 100.0)]
