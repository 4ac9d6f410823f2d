"""``lswap bench invert``: seconds per image of e4e, and per step of PTI's projection and tuning.

Each cell runs in a fresh interpreter (so its peak memory is its own) on the
``paper256`` StyleGAN2 with random weights and full-size perceptual networks
(random weights: the work is the same as with the official ones):

- e4e: the encoder at its real size, one 256² image. Baseline: what the
  official inference does for a PTI pivot, the pSp forward, which renders the
  image with the decoder as well and throws it away.
- PTI projection and tuning steps. Baseline: the same official loops with
  NVlabs' synthesis algorithm and reference ops (``impl="reference"``), as
  the official code runs where NVlabs' CUDA kernels do not build (on CPUs,
  and on current PyTorch releases), and PyTorch's default Adam in tuning.
  The projector and the tuner are set up once, as for an image, and the
  steps after a warm-up step are timed; the last row adds them up for one
  image at the official schedule (450 projection and 350 tuning steps).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

GENERATOR_PRESET = "paper256"
OFFICIAL_PROJECTION_STEPS, OFFICIAL_TUNING_STEPS = 450, 350
E4E_PRESET = "res256"


def register(app: typer.Typer) -> None:
    @app.command("invert")
    def invert_benchmark(
        steps: Annotated[int, typer.Option(help="Timed projection and tuning steps per cell (after one warm-up step).")] = 5,
        threads: Annotated[int, typer.Option(help="Intra-op threads (0: all cores).")] = 2,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1...; auto picks cuda when available.")] = "auto",
        generator_preset: Annotated[str, typer.Option(help="StyleGAN2 preset to invert into.")] = GENERATOR_PRESET,
        e4e_preset: Annotated[str, typer.Option(help="e4e preset (its rows must match the generator's).")] = E4E_PRESET,
    ) -> None:
        """e4e and PTI on the paper256 generator, beside the official way measured in the same run."""
        from lswap_core.devices import resolve_device

        from .common import print_table, run_fresh

        target = str(resolve_device(device))
        rows, per_step = [], {}
        for stage, unit in (("e4e", "s/image"), ("projection", "ms/step"), ("tuning", "ms/step")):
            cells = {
                variant: run_fresh(_PROBE.format(stage=stage, variant=variant, steps=steps, threads=threads, device=target,
                                                 generator=generator_preset, e4e=e4e_preset))
                for variant in ("baseline", "lswap")
            }
            base, ours = cells["baseline"], cells["lswap"]
            per_step[stage] = (base["value"], ours["value"])
            rows.append([stage, unit, base["value"], ours["value"], f"{base['value'] / ours['value']:.2f}x",
                         base["peak_gib"], ours["peak_gib"]])
        official = [
            sum(per_step[stage][i] * count for stage, count in (("projection", OFFICIAL_PROJECTION_STEPS), ("tuning", OFFICIAL_TUNING_STEPS))) / 1000
            for i in (0, 1)
        ]
        rows.append(["PTI image", "s/image", official[0], official[1], f"{official[0] / official[1]:.2f}x", "", ""])
        print_table(
            f"inversion, {generator_preset} StyleGAN2, {target}, {threads or 'all'} threads",
            ["stage", "unit", "baseline", "lswap", "speed-up", "baseline peak GiB", "lswap peak GiB"],
            rows,
        )
        typer.echo(
            "baseline: e4e as the official pSp forward (encoder + decoder render); projection and tuning as the "
            "official loops with NVlabs' reference synthesis; PTI image: 450 projection + 350 tuning steps, the official "
            "schedule, from the step times. Peak: resident memory (CPU) or CUDA memory of the cell."
        )


_PROBE = """
import json, torch
from lswap_benchmarks.common import set_threads
from lswap_benchmarks.invert import measure
set_threads({threads})
print(json.dumps(measure({stage!r}, {variant!r}, {steps}, torch.device({device!r}), {generator!r}, {e4e!r})))
"""


def measure(stage: str, variant: str, steps: int, device: Any, generator_preset: str, e4e_preset: str) -> dict[str, float]:
    """One cell: the time per image (e4e) or per step, and the peak memory."""
    import time

    import torch

    import lswap_core
    from lswap_benchmarks.common import peak_rss_gib, synchronize

    torch.manual_seed(0)
    generator = lswap_core.load_generator("stylegan2", preset=generator_preset, device=device).requires_grad_(False)
    if variant == "baseline":
        generator = _with_reference_synthesis(generator)
    image = _photo(generator)
    if stage == "e4e":
        run = _e4e(generator, image, variant, e4e_preset)
    else:
        run = {"projection": _projection, "tuning": _tuning}[stage](generator, image, variant)
    run(1)  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    synchronize(device)
    started = time.perf_counter()
    run(steps)
    synchronize(device)
    seconds = time.perf_counter() - started
    value = seconds / steps if stage == "e4e" else seconds / steps * 1000
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else peak_rss_gib()
    return {"value": value, "peak_gib": peak}


def _with_reference_synthesis(generator: Any) -> Any:
    """The generator running NVlabs' algorithm with the reference ops."""
    base = type(generator)

    class ReferenceSynthesis(base):  # type: ignore[misc, valid-type]
        def synthesis(self, ws: Any, **options: Any) -> Any:
            return super().synthesis(ws, impl="reference", **options)

    generator.__class__ = ReferenceSynthesis
    return generator


def _photo(generator: Any) -> Any:
    import torch

    with torch.no_grad():
        z = torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(1)).to(generator.device)
        return generator.synthesis(generator.mapping(z)).clamp(-1, 1)


def _e4e(generator: Any, image: Any, variant: str, preset: str) -> Any:
    import torch

    import lswap_core

    encoder = lswap_core.load_inverter("e4e", preset=preset, device=generator.device)

    def run(images: int) -> None:
        for _ in range(images):
            ws = encoder.invert(image, generator).ws
            if variant == "baseline":  # pSp renders the image too
                with torch.no_grad():
                    generator.synthesis(ws, noise_mode="const")

    return run


def _projection(generator: Any, image: Any, variant: str) -> Any:
    import dataclasses

    import torch
    from lswap_plugins.perceptual.nvidia_vgg import NvidiaVGG16
    from lswap_plugins.pti.config import PTIConfig
    from lswap_plugins.pti.projector import Projector

    projector = Projector(generator, NvidiaVGG16().to(generator.device), PTIConfig())  # set up once, as per image

    def run(steps: int) -> None:
        projector.config = dataclasses.replace(projector.config, projection_steps=steps)
        projector.project(((image[0] + 1) / 2 * 255), torch.Generator().manual_seed(0))

    return run


def _tuning(generator: Any, image: Any, variant: str) -> Any:
    import dataclasses

    import torch
    from lswap_plugins.perceptual.lpips import LPIPS
    from lswap_plugins.pti.config import PTIConfig
    from lswap_plugins.pti.tuning import PivotalTuner

    lpips = LPIPS("alex", pretrained=False).to(generator.device)
    pivot = generator.mean_w(100)[None, None].expand(1, generator.num_ws, -1).to(generator.device)
    tuner = PivotalTuner(generator, lpips, PTIConfig(lpips_threshold=0.0))  # set up once, as per image
    if variant == "baseline":  # the official optimiser: PyTorch's default Adam, a loop over the tensors
        tuner.optimizer = torch.optim.Adam(tuner.tuned.parameters(), lr=tuner.config.tuning_lr)

    def run(steps: int) -> None:
        tuner.config = dataclasses.replace(tuner.config, tuning_steps=steps)
        tuner.tune_single(pivot, image, torch.Generator().manual_seed(0))

    return run
