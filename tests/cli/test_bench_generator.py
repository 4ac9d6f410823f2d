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


def test_the_stylenerf_baseline_is_the_official_algorithm(tmp_path):
    """The benchmark's baseline renders what the official code rendered from the same weights."""
    import lswap_core
    from lswap_benchmarks._stylenerf import official_path
    from lswap_core.convert import convert
    from tests.golden import load_golden
    from tests.pickles import write_stylenerf_golden

    golden = load_golden("stylenerf")
    export = convert(write_stylenerf_golden(tmp_path / "ffhq_64.pkl", golden), tmp_path / "g.safetensors")
    baseline = official_path(lswap_core.load_generator("stylenerf", weights=export).eval())
    ws = baseline.mapping(golden.inputs["z"])
    image, nerf = baseline.synthesis(ws, camera=golden.inputs["cam2world"], background=golden.inputs["background"],
                                     hierarchical=False, return_nerf=True)
    assert (nerf - golden.outputs["img_nerf_flat"]).abs().max().item() <= 1e-5
    assert (image - golden.outputs["img_flat"]).abs().max().item() <= 1e-5


def test_the_stylenerf_benchmark_times_both_paths():
    result = CliRunner().invoke(
        app, ["bench", "generator", "--generator", "stylenerf", "--resolutions", "64", "--repeats", "1", "--no-memory", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(cell["resolution"], cell["pass"]) for cell in report["cells"]] == [(64, "fwd"), (64, "fwd+bwd")]
    for cell in report["cells"]:
        assert cell["official_ms"] > 0 and cell["lswap_ms"] > 0
        assert cell["coarse_max_abs_difference"] < 1e-4


@pytest.mark.parametrize(("args", "message"), [
    (["--generator", "stylenerf", "--resolutions", "32"], "powers of two above its 32^2 volume"),
    (["--generator", "biggan"], "no benchmark for generator 'biggan'"),
    (["--batches", "0"], "not a list of positive integers"),
])
def test_bad_benchmark_options_are_one_line(args, message):
    result = CliRunner().invoke(app, ["bench", "generator", *args])
    assert result.exit_code == 1
    assert message in result.output
