"""``lswap edit`` and ``lswap swap --edit`` with a toy editor that fits the ``tiny`` StyleGAN2."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lswap_core import hookimpl
from lswap_core.cli import app
from lswap_core.config import load_config
from lswap_core.plugins import register_plugin
from lswap_core.training import train
from tests.cli.test_host_commands import assert_one_line_error
from tests.support import ToyEditor, ToyEditorConfig

runner = CliRunner()


@dataclasses.dataclass
class WideConfig(ToyEditorConfig):
    w_dim: int = 64  # the tiny StyleGAN2's W


class WideToyEditor(ToyEditor):
    name = "wide-toy-editor"
    config_class = WideConfig


class WidePlugin:
    @hookimpl
    def lswap_register_editors(self, register):
        register(WideToyEditor)


@pytest.fixture(autouse=True)
def wide_editor():
    register_plugin(WidePlugin(), "wide-toys")


@pytest.fixture(scope="module")
def seed_codes(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    result = runner.invoke(app, ["generate", "--preset", "tiny", "--seeds", "3", "--save-latents", "--out", str(out)],
                           env={"LSWAP_NO_PROGRESS": "1"})
    assert result.exit_code == 0, result.output
    return out


def edit(*args: str):
    return runner.invoke(app, ["edit", "--editor", "wide-toy-editor", "--preset", "tiny", *args], env={"LSWAP_NO_PROGRESS": "1"})


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_a_strip_over_strengths(tmp_path, seed_codes):
    out = tmp_path / "out"
    result = edit("--codes", str(seed_codes / "seed0003.safetensors"), "--direction", "up", "--steps", "-2:2:5", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "up at -2, -1, +0, +1, +2" in result.stdout
    strip = Image.open(out / "seed0003_up.png")
    assert strip.size[0] > 5 * 64 and strip.size[1] < 2 * 64 + 40


def test_strength_zero_renders_the_codes_unchanged(tmp_path, seed_codes):
    out = tmp_path / "out"
    result = edit("--codes", str(seed_codes / "seed0003.safetensors"), "--direction", "down", "--strength", "0", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert np.array_equal(pixels(out / "seed0003_down.png"), pixels(seed_codes / "seed0003.png"))
    moved = tmp_path / "moved"
    assert edit("--codes", str(seed_codes / "seed0003.safetensors"), "--direction", "down", "--strength", "3", "--layers", "coarse",
                "--out", str(moved)).exit_code == 0
    assert not np.array_equal(pixels(moved / "seed0003_down.png"), pixels(seed_codes / "seed0003.png"))


def test_npy_codes_take_w_or_w_plus(tmp_path):
    np.save(tmp_path / "w.npy", np.random.RandomState(0).randn(2, 64).astype(np.float32))
    result = edit("--codes", str(tmp_path / "w.npy"), "--direction", "up", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "w_up.png").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--direction", "sideways"], "has no direction 'sideways'; choose one of: up, down"),
        (["--direction", "up", "--strength", "nan"], "--strength must be a finite number"),
        (["--direction", "up", "--layers", "0-12"], "rows go from 0 to 9"),
        (["--direction", "up", "--steps", "1:2"], "is not START:STOP:COUNT"),
    ],
)
def test_bad_edits_are_one_line(tmp_path, seed_codes, args, fragment):
    out = tmp_path / "out"
    assert_one_line_error(edit("--codes", str(seed_codes / "seed0003.safetensors"), "--out", str(out), *args), fragment)
    assert not out.exists()


def test_codes_without_a_generator_need_one(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((1, 64), dtype=np.float32))
    result = runner.invoke(app, ["edit", "--editor", "wide-toy-editor", "--codes", str(tmp_path / "w.npy"), "--direction", "up",
                                 "--out", str(tmp_path / "out")])
    assert_one_line_error(result, "do not say which generator they belong to")


def test_swap_edits_the_swapped_code(tmp_path):
    run = tmp_path / "run"
    train(load_config("tiny", ["train.steps=2", "train.batch_size=2", "train.validation_pairs=2"], kind="train"), run)
    base = ["swap", "--mixer", str(run / "mixer.safetensors"), "--source-seed", "1", "--target-seed", "2"]
    plain = runner.invoke(app, [*base, "--out", str(tmp_path / "plain.png")])
    edited = runner.invoke(app, [*base, "--out", str(tmp_path / "edited.png"), "--editor", "wide-toy-editor", "--edit", "up=+3"])
    assert plain.exit_code == 0 and edited.exit_code == 0, edited.output
    assert not np.array_equal(pixels(tmp_path / "plain.png"), pixels(tmp_path / "edited.png"))
    bad = runner.invoke(app, [*base, "--out", str(tmp_path / "bad.png"), "--editor", "wide-toy-editor", "--edit", "left=1"])
    assert_one_line_error(bad, "has no direction 'left'")
    assert not (tmp_path / "bad.png").exists()
