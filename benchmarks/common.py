"""Timing, ceilings and tables shared by the benchmarks."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from rich.console import Console
from rich.table import Table


def set_threads(threads: int | None) -> int:
    """Use ``threads`` intra-op threads (default: all cores); returns the count in use."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], Any], *, repeats: int = 3, warmup: int = 1, device: torch.device | None = None) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeats`` runs after ``warmup`` runs."""
    device = device or torch.device("cpu")
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def matmul_ceiling_gflops(size: int = 2048, device: torch.device | None = None, repeats: int = 3) -> float:
    """Achieved float32 GFLOP/s of one ``size``² matrix product: the machine's practical ceiling."""
    device = device or torch.device("cpu")
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    ms = time_ms(lambda: a @ b, repeats=repeats, device=device)
    return 2 * size**3 / (ms / 1000) / 1e9


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, in GiB.

    Linux's ``VmHWM`` when available: ``ru_maxrss`` survives ``fork`` and
    ``exec``, so a fresh interpreter started by a large process would report
    its parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # KiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_fresh(code: str, *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run Python ``code`` in a fresh interpreter; it must print one JSON object last."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
