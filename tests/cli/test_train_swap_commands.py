"""lswap train, swap and analyze on small real components."""

from __future__ import annotations

import pytest
import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

import lswap_core
from lswap_core.checkpoints import save_component
from lswap_core.cli import app
from lswap_core.config import load_config
from lswap_core.imaging import to_uint8
from lswap_core.latents import z_from_seeds
from lswap_core.mixer import LatentMixer, MixerConfig, load_mixer, save_mixer
from lswap_core.swapping import latent_space_for, swap_from_noise
from lswap_core.training import build_components
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


def test_train_takes_its_precision_through_set(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text(TOY_CONFIG)
    args = ["train", "-c", str(config), "--dry-run", "--set"]
    result = runner.invoke(app, [*args, "train.precision=fp16"])
    assert result.exit_code == 0 and "precision: fp16" in result.stdout
    assert_one_line_error(runner.invoke(app, [*args, "train.precision=fp8"]), "train.precision must be one of 'fp32', 'bf16', 'fp16'")


def test_resume_extends_a_run(trained):
    result = runner.invoke(app, ["train", "--resume", str(trained), "--set", "train.steps=5"])
    assert result.exit_code == 0, result.output
    assert "trained 2 steps (3 -> 5)" in result.stdout  # the steps this call did, not the total
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
    result = runner.invoke(app, [*args, "--grid", "--layers", "coarse", "--strength", "0.5", "--overwrite"])
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


def swap_args(mixer, out, *extra):
    return ["swap", "--mixer", str(mixer), "--source-seed", "1", "--target-seed", "2", "--out", str(out), *extra]


def test_swap_rebuilds_the_generator_the_mixer_was_trained_with(trained, tmp_path):
    mixer = load_mixer(trained / "mixer.safetensors")
    record = mixer.trained_with.generator
    assert (record.name, record.preset, record.weights, record.num_ws, record.w_dim) == ("toy", None, None, 3, 4)
    assert record.init_seed == 0  # the run's seed
    result = runner.invoke(app, swap_args(trained / "mixer.safetensors", tmp_path / "s.png"))
    assert result.exit_code == 0, result.output
    # The very generator that rendered the training images, not another random one.
    generator = build_components(load_config(trained / "config.yaml"), torch.device("cpu")).generator
    z = z_from_seeds([1, 2], generator.z_dim)
    expected = swap_from_noise(generator, mixer, latent_space_for(mixer), z[:1], z[1:]).swap_images
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s.png")), to_uint8(expected)[0].numpy())
    # Built again by hand: the same config and initial seed give the same generator, which is accepted.
    result = runner.invoke(app, swap_args(trained / "mixer.safetensors", tmp_path / "t.png", "--preset", "base", "--init-seed", "0"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.png").read_bytes() == (tmp_path / "s.png").read_bytes()


def test_swap_refuses_a_generator_other_than_the_trained_one(trained, tmp_path):
    mixer = trained / "mixer.safetensors"
    other_seed = runner.invoke(app, swap_args(mixer, tmp_path / "s.png", "--preset", "base", "--init-seed", "5"))
    assert_one_line_error(other_seed, "differs: its weights differ")
    other_file = save_component(lswap_core.load_generator("toy", init_seed=9), tmp_path / "g.safetensors")
    assert_one_line_error(runner.invoke(app, swap_args(mixer, tmp_path / "s.png", "--weights", str(other_file))), "its weights differ")
    assert_one_line_error(runner.invoke(app, swap_args(mixer, tmp_path / "s.png", "-g", "stylegan2")), "not 'stylegan2'")
    assert not (tmp_path / "s.png").exists()


def test_the_training_truncation_is_the_default(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text(TOY_CONFIG)
    run = tmp_path / "run"
    args = ["--set", "train.steps=1", "--set", "sampling.truncation_psi=0.5", "--set", "sampling.truncation_cutoff=2"]
    assert runner.invoke(app, ["train", "-c", str(config), "-o", str(run), *args]).exit_code == 0
    mixer = load_mixer(run / "mixer.safetensors")
    space = latent_space_for(mixer)
    assert (space.truncation_psi, space.truncation_cutoff) == (0.5, 2)
    assert latent_space_for(mixer, truncation_psi=1.0).truncation_psi == 1.0


def test_a_missing_generator_file_is_a_one_line_error(tmp_path):
    weights = save_component(lswap_core.load_generator("toy"), tmp_path / "toy.safetensors")
    config = tmp_path / "toy.yaml"
    config.write_text(TOY_CONFIG.replace("generator: {name: toy}", f"generator: {{name: toy, weights: '{weights}'}}"))
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", "-c", str(config), "-o", str(run), "--set", "train.steps=1"]).exit_code == 0
    assert load_mixer(run / "mixer.safetensors").trained_with.generator.weights == str(weights)
    assert runner.invoke(app, swap_args(run / "mixer.safetensors", tmp_path / "a.png")).exit_code == 0
    weights.unlink()
    result = runner.invoke(app, swap_args(run / "mixer.safetensors", tmp_path / "b.png"))
    assert_one_line_error(result, f"the generator weights {weights} cannot be loaded")
