"""``lswap bench generator``: StyleGAN2 synthesis against NVlabs' reference algorithm, measured in the same run.

For each resolution and batch: the forward pass, and forward + backward
(the gradient with respect to W+, weights frozen, as when training a latent
mixer through the generator), of

- the baseline: ``impl="reference"``, NVlabs' algorithm with the reference
  ops (upfirdn2d as padding plus a depthwise convolution, modulation by a
  grouped convolution over the batch, as NVlabs runs inference), and with
  ``--nonfused`` also its non-fused variant (scaled activations, as NVlabs
  trains);
- lswap's default path (``impl="auto"``).

Beside them: the nominal GFLOP of one forward pass and the rate achieved,
the machine's ceilings (a 2048² matrix product and a 3x3 convolution with
512 channels at 64², measured now), and the peak memory of forward +
backward at the largest resolution and batch, each path in a fresh process.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

RESOLUTION_PRESETS = {256: "paper256", 1024: "ffhq1024"}  # the configurations of the published figures
LONG_RUN_S = 5.0  # a first run longer than this is reported alone instead of warming up for repeats


def register(app: typer.Typer) -> None:
    @app.command("generator")
    def generator_benchmark(
        generator: Annotated[
            str, typer.Option(help="stylegan2 (against NVlabs' reference algorithm) or stylenerf (against the official path).")
        ] = "stylegan2",
        resolutions: Annotated[str, typer.Option(help="Comma-separated output resolutions.")] = "256,1024",
        batches: Annotated[
            str | None, typer.Option(help="Comma-separated batch sizes (default 1,4; 1 for stylenerf).")
        ] = None,
        repeats: Annotated[int, typer.Option(help="Timed runs per cell (median), after one warm-up run.")] = 3,
        threads: Annotated[int, typer.Option(help="Intra-op threads (0: all cores).")] = 2,
        nonfused: Annotated[
            bool, typer.Option("--nonfused/--no-nonfused", help="Also time the reference's non-fused forward+backward.")
        ] = True,
        memory: Annotated[
            bool, typer.Option("--memory/--no-memory", help="Peak memory of forward+backward in fresh processes.")
        ] = True,
        json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1...; auto picks cuda when available.")] = "cpu",
    ) -> None:
        """Synthesis time: lswap's path against the official algorithm's, float32, in the same run."""
        from lswap_benchmarks.common import matmul_ceiling_gflops, print_table, set_threads
        from lswap_core.devices import resolve_device
        from lswap_core.errors import InputError

        if generator not in ("stylegan2", "stylenerf"):
            raise InputError(f"no benchmark for generator {generator!r}", hint="choose stylegan2 or stylenerf")
        res_list = _integers(resolutions, "--resolutions")
        batch_list = _integers(batches or ("1" if generator == "stylenerf" else "1,4"), "--batches")
        used_threads = set_threads(threads)
        target = resolve_device(device)
        if generator == "stylenerf":
            _stylenerf_benchmark(res_list, batch_list, repeats, memory, json_output, target, used_threads)
            return
        rows: list[dict[str, Any]] = []
        for res in res_list:
            rows += _measure_resolution(res, batch_list, repeats, nonfused, target)
        ceilings = {"matmul_2048_gflops": matmul_ceiling_gflops(2048, device=target),
                    "conv3x3_512ch_64_gflops": _conv_ceiling() if target.type == "cpu" else float("nan")}
        peaks = _peak_memory(max(res_list), max(batch_list), used_threads, str(target)) if memory else {}
        if json_output:
            report = {"threads": used_threads, "cells": rows, "ceilings": ceilings, "peak_memory_gib": peaks}
            typer.echo(json.dumps(report))
            return
        columns = ["res", "n", "pass", "ref ms", "ref nf ms", "lswap ms", "ratio", "ref GF/s", "lswap GF/s"]
        table = [
            [
                r["resolution"], r["batch"], r["pass"], r["reference_ms"], r.get("reference_nonfused_ms", "-"),
                r["lswap_ms"], f"{r['reference_ms'] / r['lswap_ms']:.2f}x",
                r.get("reference_gflops", "-"), r.get("lswap_gflops", "-"),
            ]
            for r in rows
        ]
        print_table(f"StyleGAN2 synthesis, float32, {target}, {used_threads} threads", columns, table)
        for r in rows:
            if "fast_ms" in r:  # on CUDA, lswap takes NVlabs' algorithm with its kernels; the others beside it
                typer.echo(f"{r['resolution']}^2 batch {r['batch']} fwd+bwd on the CPU-built path: {r['fast_ms']:.1f} ms; "
                           f"with float16 in the 4 highest resolutions: {r['fp16_top4_ms']:.1f} ms")
        typer.echo(
            "ref: NVlabs' reference algorithm (grouped-convolution modulation); ref nf: its non-fused variant; "
            "ratio: ref / lswap; GF/s: nominal GFLOP per second"
        )
        for res in res_list:
            typer.echo(f"nominal work of one {res}x{res} forward pass: {_nominal_gflop(res):.1f} GFLOP")
        typer.echo(
            f"ceilings: matmul 2048^2 {ceilings['matmul_2048_gflops']:.0f} GFLOP/s, "
            f"3x3 conv 512 ch 64^2 {ceilings['conv3x3_512ch_64_gflops']:.0f} GFLOP/s"
        )
        for name, gib in peaks.items():
            where = f"{max(res_list)}^2 batch {max(batch_list)}"
            typer.echo(f"peak memory, forward+backward {where}, {name}: {gib:.2f} GiB")


def _integers(text: str, option: str) -> list[int]:
    from lswap_core.errors import InputError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise InputError(f"{option} {text!r} is not a list of positive integers", hint=f"for example {option} 1,4")
    return values


def _stylenerf_benchmark(resolutions: list[int], batches: list[int], repeats: int, memory: bool, json_output: bool,
                         device: Any, threads: int) -> None:
    from lswap_benchmarks import _stylenerf as stylenerf
    from lswap_benchmarks.common import print_table
    from lswap_core.errors import InputError

    if min(resolutions) <= 32 or any(r & (r - 1) for r in resolutions):
        raise InputError(f"StyleNeRF renders at powers of two above its 32^2 volume, not {resolutions}",
                         hint="for example --resolutions 256,1024")
    rows = stylenerf.measure(resolutions, batches, repeats, device)
    peaks = stylenerf.peak_memory(max(resolutions), max(batches), threads, str(device)) if memory else {}
    if json_output:
        typer.echo(json.dumps({"generator": "stylenerf", "threads": threads, "cells": rows, "peak_memory_gib": peaks}))
        return
    columns = ["res", "n", "pass", "official ms", "lswap ms", "ratio", "lswap ms/image", "max |diff|", "coarse |diff|"]
    table = [
        [r["resolution"], r["batch"], r["pass"], r["official_ms"], r["lswap_ms"], f"{r['official_ms'] / r['lswap_ms']:.2f}x",
         r["lswap_ms"] / r["batch"], f"{r['max_abs_difference']:.1e}", f"{r['coarse_max_abs_difference']:.1e}"]
        for r in rows
    ]
    print_table(f"StyleNeRF rendering (FFHQ configurations, front view), float32, {device}, {threads} threads", columns, table)
    typer.echo("official: the official code's operations (fused grouped-convolution modulation, the NeRF in its "
               "batch_reshape layout, reference upfirdn2d/bias_act); ratio: official / lswap; max |diff|: between the "
               "two paths' images, and with coarse samples only (importance resampling amplifies rounding)")
    for name, gib in peaks.items():
        typer.echo(f"peak memory, forward+backward {max(resolutions)}^2 batch {max(batches)}, {name}: {gib:.2f} GiB")


def _config(res: int) -> Any:
    from lswap_plugins.stylegan2.config import PRESETS, StyleGAN2Config

    preset = RESOLUTION_PRESETS.get(res)
    return StyleGAN2Config(**PRESETS[preset]) if preset else StyleGAN2Config(resolution=res)


def _generator(res: int, device: Any = "cpu") -> Any:
    import torch

    from lswap_plugins.stylegan2.generator import StyleGAN2Generator

    torch.manual_seed(0)
    return StyleGAN2Generator(_config(res)).eval().requires_grad_(False).to(device)


def _nominal_gflop(res: int) -> float:
    """Multiply-adds x 2 of one forward pass: convolutions (transposed ones at their input size), filters, ToRGB."""
    config = _config(res)
    total = 0
    for r in config.block_resolutions:
        out = config.channels(r)
        if r > 4:
            total += config.channels(r // 2) * out * 9 * (r // 2) ** 2  # stride-2 transposed 3x3 convolution
            total += out * 16 * r * r + 3 * 16 * r * r  # [1,3,3,1] filters of the features and of the RGB skip
        total += out * out * 9 * r * r + 3 * out * r * r  # 3x3 convolution, ToRGB
    return 2 * total / 1e9


def _time(fn: Any, repeats: int, device: Any = None) -> float:
    """Median milliseconds of ``repeats`` runs after a warm-up run; a long first run is reported alone."""
    import statistics

    from lswap_benchmarks.common import synchronize

    def timed() -> float:
        start = time.perf_counter()
        fn()
        if device is not None:
            synchronize(device)
        return time.perf_counter() - start

    first = timed()
    if first > LONG_RUN_S:
        return first * 1000
    return statistics.median(timed() for _ in range(repeats)) * 1000


def _measure_resolution(res: int, batches: list[int], repeats: int, nonfused: bool, device: Any) -> list[dict[str, Any]]:
    import torch

    generator = _generator(res, device)
    gflop = _nominal_gflop(res)
    rows = []
    for batch in batches:
        ws = generator.mapping(torch.randn(batch, generator.z_dim, generator=torch.Generator().manual_seed(batch)).to(device))

        def forward(impl: str) -> None:
            with torch.no_grad():
                generator.synthesis(ws, impl=impl)

        upstream = torch.randn(batch, 3, res, res, generator=torch.Generator().manual_seed(0)).to(device)

        def forward_backward(impl: str, fused: bool | None = None, num_fp16_res: int = 0) -> None:
            codes = ws.detach().requires_grad_(True)
            image = generator.synthesis(codes, impl=impl, fused_modconv=fused, num_fp16_res=num_fp16_res)
            torch.autograd.grad(image, codes, upstream)

        fwd = {impl: _time(lambda impl=impl: forward(impl), repeats, device) for impl in ("reference", "auto")}
        rows.append(
            {
                "resolution": res, "batch": batch, "pass": "fwd",
                "reference_ms": fwd["reference"], "lswap_ms": fwd["auto"],
                "reference_gflops": gflop * batch / fwd["reference"] * 1000,
                "lswap_gflops": gflop * batch / fwd["auto"] * 1000,
            }
        )
        row = {
            "resolution": res, "batch": batch, "pass": "fwd+bwd",
            "reference_ms": _time(lambda: forward_backward("reference"), repeats, device),
            "lswap_ms": _time(lambda: forward_backward("auto"), repeats, device),
        }
        if device.type == "cuda":  # "auto" is NVlabs' algorithm with the CUDA kernels there; beside it the
            # CPU-built path, and NVlabs' float16 in the 4 highest resolutions
            row["fast_ms"] = _time(lambda: forward_backward("fast"), repeats, device)
            row["fp16_top4_ms"] = _time(lambda: forward_backward("auto", num_fp16_res=min(4, len(_config(res).block_resolutions))),
                                        repeats, device)
        if nonfused:
            row["reference_nonfused_ms"] = _time(lambda: forward_backward("reference", fused=False), repeats, device)
        rows.append(row)
    return rows


def _conv_ceiling() -> float:
    """Achieved GFLOP/s of a 3x3 convolution, 512 channels, 64x64, batch 1 (oneDNN's best case here)."""
    import torch
    import torch.nn.functional as F

    from lswap_benchmarks.common import time_ms

    x = torch.randn(1, 512, 64, 64).contiguous(memory_format=torch.channels_last)
    w = torch.randn(512, 512, 3, 3)
    ms = time_ms(lambda: F.conv2d(x, w, padding=1), repeats=3)
    return 2 * 512 * 512 * 9 * 64 * 64 / (ms / 1000) / 1e9


_MEMORY_PROBE = """
import json, torch
from lswap_benchmarks.common import peak_rss_gib
from lswap_benchmarks.generator import _generator
torch.set_num_threads({threads})
device = torch.device({device!r})
generator = _generator({res}, device)
codes = generator.mapping(torch.randn({batch}, generator.z_dim).to(device)).detach().requires_grad_(True)
image = generator.synthesis(codes, impl={impl!r})
torch.autograd.grad(image, codes, torch.ones_like(image))
peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else peak_rss_gib()
print(json.dumps({{"peak_gib": peak}}))
"""


def _peak_memory(res: int, batch: int, threads: int, device: str = "cpu") -> dict[str, float]:
    """Peak resident memory of one forward+backward, each path in a fresh interpreter."""
    from lswap_benchmarks.common import run_fresh

    return {
        label: run_fresh(_MEMORY_PROBE.format(res=res, batch=batch, impl=impl, threads=threads, device=device))["peak_gib"]
        for label, impl in (("reference", "reference"), ("lswap", "auto"))
    }
