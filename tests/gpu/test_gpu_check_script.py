"""``benchmarks/gpu-check.sh`` runs every step on a CPU too (quick sizes), and writes one results file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_check_runs_each_step_and_reports_it(tmp_path):
    results = tmp_path / "gpu-check.txt"
    env = {**os.environ, "PYTHON": sys.executable, "LSWAP_GPU_CHECK_QUICK": "1", "LSWAP_GPU_CHECK_SKIP_INSTALL": "1",
           "LSWAP_HOME": str(tmp_path / "home")}
    completed = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu-check.sh"), str(results)], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr
    text = results.read_text()
    for step in ("CUDA tests", "bench generator", "bench mixer", "bench train fp32", "bench train bf16", "bench train fp16",
                 "bench generator stylenerf"):
        assert f"-- {step}: exit 0" in text, text[-3000:]
    assert "torch" in text and "results in" in text
