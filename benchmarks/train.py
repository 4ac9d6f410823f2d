"""``lswap bench train``: training steps of lswap's trainer beside the official recipe's way.

For each configuration, in a fresh process each: pairs per second over a few
steps after a warm-up step, and the process's peak memory, of

- the baseline, as the official code trains: the mixer as one ``nn.Sequential``
  per W+ row, NVlabs' reference synthesis path, AdamW's default (foreach) step;
- lswap's trainer as it runs: the stacked mixer, the fast synthesis path, fused AdamW.

Everything else is the same: components, batch, losses, clipping, seeds.
Configurations: ``tiny`` (the built-in config) and ``256`` (a paper256
StyleGAN2 with the full smoothswap embedder, randomly initialised).
"""

from __future__ import annotations

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
}

_MEASURE = """
import json, sys
from lswap_benchmarks.train import measure
print(json.dumps(measure({config!r}, {variant!r}, {steps}, {threads})))
"""


def measure(config_name: str, variant: str, steps: int, threads: int | None) -> dict[str, Any]:
    """Seconds per training step and peak memory of one configuration and variant (run in a fresh process)."""
    import functools
    import tempfile
    import time

    import torch

    from lswap_core.config import load_config
    from lswap_core.training import Trainer

    from .common import peak_rss_gib, set_threads
    from .mixer import official_layout

    set_threads(threads)
    overrides = [*CONFIGS[config_name], "train.device=cpu", f"train.steps={steps + 1}"]
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
        trainer.train_step(0)  # warm-up
        started = time.perf_counter()
        for step in range(1, steps + 1):
            trainer.train_step(step)
        seconds = (time.perf_counter() - started) / steps
    return {"step_s": seconds, "pairs_per_s": config.train.batch_size / seconds, "peak_gib": peak_rss_gib()}


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_benchmark(
        configs: Annotated[str, typer.Option(help="Configurations: tiny and/or 256, comma separated.")] = "tiny,256",
        steps: Annotated[int, typer.Option(help="Timed training steps per run, after one warm-up step.")] = 5,
        threads: Annotated[int, typer.Option(help="Intra-op threads (0: all cores).")] = 0,
    ) -> None:
        """Pairs per second and peak memory of training steps, lswap beside the official way."""
        from .common import print_table, run_fresh

        rows = []
        for name in configs.split(","):
            if name not in CONFIGS:
                raise typer.BadParameter(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
            results = {
                variant: run_fresh(_MEASURE.format(config=name, variant=variant, steps=steps, threads=threads or None))
                for variant in ("baseline", "lswap")
            }
            base, ours = results["baseline"], results["lswap"]
            rows.append(
                (
                    name,
                    base["pairs_per_s"],
                    ours["pairs_per_s"],
                    ours["pairs_per_s"] / base["pairs_per_s"],
                    base["peak_gib"],
                    ours["peak_gib"],
                )
            )
        print_table(
            f"training step, CPU, {steps} steps after a warm-up, each run in a fresh process",
            ["config", "official way pairs/s", "lswap pairs/s", "speed-up", "official way peak GiB", "lswap peak GiB"],
            rows,
        )
