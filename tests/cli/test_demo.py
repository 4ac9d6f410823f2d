"""lswap demo on the built-in tiny configuration (a few steps)."""

from __future__ import annotations

import pytest
from PIL import Image
from typer.testing import CliRunner

from lswap_core.cli import app
from tests.cli.test_host_commands import assert_one_line_error

runner = CliRunner()


@pytest.mark.slow
def test_demo_writes_swaps_curve_summary_and_run(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--steps", "6", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "lswap demo: 6 steps" in result.stdout
    width, height = Image.open(out / "swaps.png").size
    assert width == 3 * 64 + 2 * 2 and height == 16 + 6 * 64 + 5 * 2  # source | target | swap, six pairs
    assert Image.open(out / "loss_curve.png").size == (720, 420)
    summary = (out / "summary.md").read_text()
    assert "| id |" in summary and "| lp |" in summary
    assert (out / "run" / "mixer.safetensors").is_file() and (out / "run" / "metrics.jsonl").is_file()


def test_demo_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    assert_one_line_error(runner.invoke(app, ["demo", "--out", str(tmp_path)]), "is not empty")
    assert (tmp_path / "keep.txt").read_text() == "mine"
