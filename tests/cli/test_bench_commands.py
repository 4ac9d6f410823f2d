"""``lswap bench mixer`` and ``lswap bench train`` run end to end (tiny sizes)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lswap_core.cli import app


def test_the_mixer_benchmark_runs():
    result = CliRunner().invoke(app, ["bench", "mixer", "--batches", "2", "--num-ws", "1", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "training step" in result.stdout and "speed-up" in result.stdout


@pytest.mark.slow
def test_the_training_benchmark_runs():
    result = CliRunner().invoke(app, ["bench", "train", "--configs", "tiny", "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.stdout and "pairs/s" in result.stdout


@pytest.mark.slow
def test_the_inversion_benchmark_runs():
    args = ["bench", "invert", "--steps", "1", "--device", "cpu", "--generator-preset", "tiny", "--e4e-preset", "tiny"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for row in ("e4e", "projection", "tuning", "PTI image"):
        assert row in result.stdout
