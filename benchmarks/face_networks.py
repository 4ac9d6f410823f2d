"""``lswap bench face-networks``: CPU/GPU time of the identity embedders and the 3DMM regressor.

Each network runs at its published size (weights do not change the cost, so
random ones are used) on 1024x1024 generator-sized images, the size the
losses feed them, once per image and batched. The baseline, measured in the
same run, is the machine's float32 matrix-product throughput: the table
reports each network's achieved GFLOP/s as a fraction of it.
"""

from __future__ import annotations

from typing import Annotated

import typer

NETWORKS = {
    "smoothswap": ("embedder", "smoothswap", {}),
    "ir-se50": ("embedder", "arcface", {"backbone": "ir_se50"}),
    "iresnet100": ("embedder", "arcface", {"backbone": "iresnet100"}),
    "deep3dface": ("shape_model", "deep3dface", {"crop": "resize"}),
}


def register(app: typer.Typer) -> None:
    @app.command("face-networks")
    def face_networks(
        batch: Annotated[int, typer.Option(help="Images per batched call.")] = 8,
        size: Annotated[int, typer.Option(help="Side of the input images (the generator's resolution).")] = 1024,
        repeats: Annotated[int, typer.Option(help="Timed runs per measurement (the median is kept).")] = 3,
        threads: Annotated[int | None, typer.Option(help="Intra-op threads; default: all cores.")] = None,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1...; auto picks cuda when available.")] = "auto",
    ) -> None:
        """Per-image time of smoothswap, arcface (IR-SE-50, iresnet100) and deep3dface, single and batched."""
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from lswap_core.devices import resolve_device
        from lswap_core.registry import load_component

        from .common import matmul_ceiling_gflops, peak_rss_gib, print_table, set_threads, time_ms

        used_threads = set_threads(threads)
        target = resolve_device(device)
        ceiling = matmul_ceiling_gflops(device=target)
        rows = []
        for label, (kind, name, config) in NETWORKS.items():
            torch.manual_seed(0)
            network = load_component(kind, name, device=target, **config)
            run = network.embed if kind == "embedder" else network.coefficients
            images = torch.rand(batch, 3, size, size, device=target) * 2 - 1
            with torch.no_grad():
                with FlopCounterMode(display=False) as counter:
                    run(images[:1])
                flops = counter.get_total_flops()
                single = time_ms(lambda: run(images[:1]), repeats=repeats, device=target)
                batched = time_ms(lambda: run(images), repeats=repeats, device=target) / batch
            achieved = flops / (batched / 1000) / 1e9
            rows.append((label, flops / 1e9, single, batched, single / batched, achieved / ceiling))
            del network
        print_table(
            f"face networks on {target} ({used_threads} threads, {size}x{size} inputs, batch {batch}; "
            f"matmul ceiling {ceiling:.0f} GFLOP/s, peak RSS {peak_rss_gib():.2f} GiB)",
            ["network", "GFLOP/image", "ms/image (1)", f"ms/image ({batch})", "batching speed-up", "fraction of ceiling"],
            rows,
        )
