"""``lswap bench swap``: where the time of one photo swap goes, stage by stage.

One pair of photos, the ``paper256`` StyleGAN2 and a latent mixer for it
(random weights: the work is the same as with trained ones), PTI with
full-size perceptual networks (random weights, no download) and a short
schedule, faceapi (its real weights: ``lswap weights fetch faceapi``) to find
the faces. Prints the seconds and the share of each stage: aligning both
photos, projection, tuning, mixing, rendering, pasting back and the report.
PTI's own time grows with its steps: multiply the projection and tuning
rows by 450 / ``--projection-steps`` and 350 / ``--tuning-steps`` for the
official schedule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

GENERATOR_PRESET = "paper256"


def register(app: typer.Typer) -> None:
    @app.command("swap")
    def swap_benchmark(
        source: Annotated[Path, typer.Option("--source", help="Source photo.", show_default=False)],
        target: Annotated[Path, typer.Option("--target", help="Target photo.", show_default=False)],
        projection_steps: Annotated[int, typer.Option(help="PTI projection steps.")] = 20,
        tuning_steps: Annotated[int, typer.Option(help="PTI tuning steps.")] = 20,
        analyzer_weights: Annotated[str, typer.Option(help="faceapi analyzer export or asset name.")] = "faceapi",
        embedder_weights: Annotated[str, typer.Option(help="faceapi embedder export or asset name.")] = "faceapi",
        generator_preset: Annotated[str, typer.Option(help="StyleGAN2 preset.")] = GENERATOR_PRESET,
        threads: Annotated[int, typer.Option(help="Intra-op threads (0: all cores).")] = 2,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1...; auto picks cuda when available.")] = "auto",
    ) -> None:
        """Seconds and share of each stage of one photo swap (paper256 StyleGAN2, PTI)."""
        import time

        import torch

        import lswap_core
        from lswap_core.devices import resolve_device
        from lswap_core.inverting import align_photo
        from lswap_core.latents import LatentSpace
        from lswap_core.mixer import LatentMixer, MixerConfig
        from lswap_core.photo_swap import Face, swap_faces

        from .common import print_table, set_threads, synchronize

        set_threads(threads)
        target_device = resolve_device(device)
        generator = lswap_core.load_generator("stylegan2", preset=generator_preset, device=target_device).requires_grad_(False)
        mixer = LatentMixer(MixerConfig(num_ws=generator.num_ws, w_dim=generator.w_dim)).to(target_device).eval()
        inverter = lswap_core.load_inverter(
            "pti", preset="official", perceptual_init="random", projection_steps=projection_steps,
            tuning_steps=tuning_steps, lpips_threshold=0.0, device=target_device,
        )
        analyzer = lswap_core.load_face_analyzer("faceapi", weights=analyzer_weights, device=target_device)
        embedder = lswap_core.load_embedder("faceapi", weights=embedder_weights, device=target_device)

        started = time.perf_counter()
        faces = [Face(photo=align_photo(analyzer, path, generator.resolution)) for path in (source, target)]
        align = time.perf_counter() - started
        result = swap_faces(
            faces[0], faces[1], generator=generator, mixer=mixer, inverter=inverter, space=LatentSpace("w+"),
            analyzer=analyzer, embedder=embedder, lpips=inverter.lpips, rng=torch.Generator().manual_seed(0),
        )
        synchronize(target_device)
        seconds = {"align": align, **{k: v for k, v in result.report["seconds"].items() if k != "inversion"}}
        total = sum(seconds.values())
        rows = [[stage, value, f"{value / total:.1%}"] for stage, value in seconds.items()]
        rows.append(["total", total, "100%"])
        print_table(
            f"one photo swap, {generator_preset} StyleGAN2, PTI {projection_steps} + {tuning_steps} steps, {target_device}",
            ["stage", "seconds", "share"],
            rows,
        )
