"""``lswap bench generator`` runs and accounts the work of a forward pass as published."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lswap_benchmarks.generator import _nominal_gflop
from lswap_core.cli import app


@pytest.mark.parametrize(("resolution", "gflop"), [(256, 30.1), (1024, 150.8)])
def test_nominal_work_matches_the_published_counts(resolution, gflop):
    assert _nominal_gflop(resolution) == pytest.approx(gflop, abs=0.05)


def test_the_benchmark_prints_both_paths_and_the_ceilings():
    result = CliRunner().invoke(
        app,
        ["bench", "generator", "--resolutions", "16", "--batches", "1", "--repeats", "1", "--no-memory", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [cell["pass"] for cell in report["cells"]] == ["fwd", "fwd+bwd"]
    for cell in report["cells"]:
        assert cell["reference_ms"] > 0 and cell["lswap_ms"] > 0
    assert "reference_nonfused_ms" in report["cells"][1]
    assert report["ceilings"]["matmul_2048_gflops"] > 0
