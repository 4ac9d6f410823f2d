"""lswap train, swap and analyze on small real components."""

from __future__ import annotations

import pytest
from PIL import Image
from typer.testing import CliRunner

from lswap_core.cli import app
from lswap_core.mixer import LatentMixer, MixerConfig, save_mixer
from lswap_core.plugins import register_plugin
from tests.cli.test_host_commands import assert_one_line_error
from tests.support import ToysPlugin
from tests.unit.test_training import TOY_CONFIG

runner = CliRunner()


@pytest.fixture(autouse=True)
def toys():
    register_plugin(ToysPlugin(), "toys")


@pytest.fixture
def trained(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text(TOY_CONFIG)
    result = runner.invoke(app, ["train", "--config", str(config), "--out", str(tmp_path / "run"), "--set", "train.steps=3"])
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def test_train_writes_the_run_and_reports(trained):
    assert (trained / "mixer.safetensors").is_file() and (trained / "config.yaml").is_file()


def test_train_dry_run_prints_and_writes_nothing(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text(TOY_CONFIG)
    result = runner.invoke(app, ["train", "-c", str(config), "-o", str(tmp_path / "run"), "--set", "loss.latent_penalty=10", "--dry-run"])
    assert result.exit_code == 0 and "latent_penalty: 10.0" in result.stdout
    assert not (tmp_path / "run").exists()


def test_resume_extends_a_run(trained):
    result = runner.invoke(app, ["train", "--resume", str(trained), "--set", "train.steps=5"])
    assert result.exit_code == 0, result.output
    assert "trained 5 steps" in result.stdout
    assert sorted(p.name for p in (trained / "checkpoints").iterdir())[-1] == "step-0000005.pt"


def test_resume_refuses_a_changed_loss(trained):
    result = runner.invoke(app, ["train", "--resume", str(trained), "--set", "loss.latent_penalty=1"])
    assert_one_line_error(result, "different settings: loss.latent_penalty")


def test_train_needs_a_config_and_an_output():
    assert_one_line_error(runner.invoke(app, ["train", "--out", "x"]), "no config given")


def test_swap_and_layer_analysis(trained, tmp_path):
    mixer = str(trained / "mixer.safetensors")
    out = tmp_path / "swap.png"
    args = ["swap", "-g", "toy", "--mixer", mixer, "--source-seed", "1", "--target-seed", "2", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (8, 8)
    result = runner.invoke(app, [*args, "--grid", "--layers", "coarse", "--strength", "0.5"])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size[0] == 3 * 8 + 2 * 2
    figure = tmp_path / "layers.png"
    result = runner.invoke(app, ["analyze", "layers", "-g", "toy", "--mixer", mixer, "--source-seeds", "1,2", "--target-seeds", "3,4", "--out", str(figure)])
    assert result.exit_code == 0, result.output
    assert "groups: coarse" in result.stdout
    width, height = Image.open(figure).size
    assert width == 4 * 8 + 3 * 2 and height == 16 + 2 * 8 + 2


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--strength", "1.5"], "between 0 and 1"),
        (["--layers", "eyes"], "unknown layer group 'eyes'"),
        (["--layers", "fine2"], "no fine2 layers"),
        (["--noise-mode", "loud"], "unknown noise mode"),
        (["--out", "missing/folder/x.png"], "does not exist"),
    ],
)
def test_swap_bad_input(trained, tmp_path, extra, fragment):
    args = ["swap", "-g", "toy", "--mixer", str(trained / "mixer.safetensors"), "--source-seed", "1", "--target-seed", "2"]
    out = ["--out", str(tmp_path / extra[1])] if extra[0] == "--out" else ["--out", str(tmp_path / "swap.png"), *extra]
    assert_one_line_error(runner.invoke(app, [*args, *out]), fragment)
    assert not (tmp_path / "swap.png").exists()


def test_a_mixer_for_another_generator_is_refused(tmp_path):
    mixer = save_mixer(LatentMixer(MixerConfig(num_ws=18, w_dim=512, hidden=(8,))), tmp_path / "m.safetensors")
    result = runner.invoke(
        app, ["swap", "-g", "toy", "--mixer", str(mixer), "--source-seed", "1", "--target-seed", "2", "--out", str(tmp_path / "s.png")]
    )
    assert_one_line_error(result, "trained for 18×512 codes, but generator 'toy' uses 3×4")
