"""``lswap bench mixer`` and ``lswap bench train`` run end to end (tiny sizes)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lswap_core.cli import app
from lswap_core.training.stage_timer import STAGES


def test_the_mixer_benchmark_runs():
    result = CliRunner().invoke(app, ["bench", "mixer", "--batches", "2", "--num-ws", "1", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "training step" in result.stdout and "speed-up" in result.stdout


@pytest.mark.slow
def test_the_training_benchmark_runs():
    result = CliRunner().invoke(app, ["bench", "train", "--configs", "tiny", "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.stdout and "pairs/s" in result.stdout
    assert "lswap's step by stage" in result.stdout and "backward" in result.stdout


@pytest.mark.slow
def test_the_training_benchmark_splits_lswaps_step_by_stage():
    result = CliRunner().invoke(app, ["bench", "train", "--configs", "tiny", "--steps", "2", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    lswap = json.loads(result.stdout)["configs"]["tiny"]["lswap"]
    stages = lswap["stages_ms"]
    assert list(stages) == list(STAGES) and all(ms > 0 for ms in stages.values())
    # Bookkeeping, not speed: the stages hold most of the step they were measured in.
    assert 0.5 * lswap["instrumented_step_ms"] <= sum(stages.values()) <= 1.5 * lswap["instrumented_step_ms"]


@pytest.mark.slow
def test_the_inversion_benchmark_runs():
    args = ["bench", "invert", "--steps", "1", "--device", "cpu", "--generator-preset", "tiny", "--e4e-preset", "tiny"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for row in ("e4e", "projection", "tuning", "PTI image"):
        assert row in result.stdout
