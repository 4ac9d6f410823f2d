"""A 3D-aware generator through the commands: training with cameras, views and turntables of swaps,
``generate --views``; the ``tiny`` StyleNeRF preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import lswap_core
from lswap_core.cli import app
from lswap_core.config import load_config
from lswap_core.mixer import load_mixer
from lswap_core.training import train
from lswap_core.training.sampling import sample_pair_cameras
from tests.cli.test_host_commands import assert_one_line_error
from tests.conftest import needs_assets

runner = CliRunner()
FAST = ["train.steps=2", "train.sample_every=2", "train.validate_every=2", "train.validation_pairs=2", "train.batch_size=2"]


@pytest.fixture(scope="module")
def nerf_mixer(tmp_path_factory):
    run = tmp_path_factory.mktemp("nerf") / "run"
    train(load_config("tiny", ["generator.name=stylenerf", *FAST], kind="train"), run)
    return run / "mixer.safetensors"


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"LSWAP_NO_PROGRESS": "1"})


def test_a_mixer_trains_on_the_camera_generator(nerf_mixer):
    mixer = load_mixer(nerf_mixer)
    generator = lswap_core.load_generator("stylenerf", preset="tiny")
    assert (mixer.config.num_ws, mixer.config.w_dim) == (generator.num_ws, generator.w_dim)
    assert mixer.trained_with.generator.name == "stylenerf"


def test_cameras_per_pair_per_image_or_front():
    generator = lswap_core.load_generator("stylenerf", preset="tiny")
    source, target = sample_pair_cameras(generator, 3, torch.Generator().manual_seed(0), "pair")
    assert torch.equal(source, target) and not torch.equal(source[0], source[1])
    source, target = sample_pair_cameras(generator, 3, torch.Generator().manual_seed(0), "each")
    assert not torch.equal(source, target)
    source, target = sample_pair_cameras(generator, 3, torch.Generator().manual_seed(0), "front")
    assert torch.equal(source, generator.named_views["front"].expand(3, -1)) and torch.equal(source, target)
    assert sample_pair_cameras(lswap_core.load_generator("stylegan2", preset="tiny"), 3, torch.Generator()) is None


def test_generate_renders_each_view(tmp_path):
    out = tmp_path / "gen"
    result = invoke("generate", "--generator", "stylenerf", "--preset", "tiny", "--seeds", "3", "--views", "front,left", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["seed0003_front.png", "seed0003_left.png"]
    front, left = (np.asarray(Image.open(out / f"seed0003_{view}.png")) for view in ("front", "left"))
    assert (front != left).any()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--generator", "stylenerf", "--views", "back"], "unknown view 'back' of generator 'stylenerf'; choose from: front, left, right, up, down"),
        (["--generator", "stylegan2", "--views", "front"], "--views needs a 3D-aware generator"),
    ],
)
def test_generate_refuses_views_it_cannot_render(tmp_path, args, fragment):
    out = tmp_path / "gen"
    assert_one_line_error(invoke("generate", "--preset", "tiny", "--seeds", "1", "--out", str(out), *args), fragment)
    assert not out.exists()


@needs_assets("face-api")
def test_a_swap_from_several_views_reports_identity_per_view(tmp_path, nerf_mixer, face_networks):
    out = tmp_path / "views.png"
    result = invoke("swap", "--mixer", str(nerf_mixer), "--source-seed", "1", "--target-seed", "2", "--views", "front,left,right",
                    "--out", str(out), "--device", "cpu", *face_networks[2:])
    assert result.exit_code == 0, result.output
    report = json.loads(out.with_suffix(".json").read_text())
    assert [entry["view"] for entry in report["views"]] == ["front", "left", "right"]
    assert all(-1 <= entry["identity_swap_to_source"] <= 1 for entry in report["views"])
    assert "identity of the swap to the source per view: front" in result.stdout
    assert Image.open(out).size[1] > 3 * 64  # one row per view


@needs_assets("face-api")
def test_a_turntable_writes_a_grid_and_an_animation(tmp_path, nerf_mixer, face_networks):
    out = tmp_path / "turn.png"
    result = invoke("swap", "--mixer", str(nerf_mixer), "--source-seed", "1", "--target-seed", "2", "--turntable", "4",
                    "--out", str(out), "--device", "cpu", *face_networks[2:])
    assert result.exit_code == 0, result.output
    with Image.open(out.with_suffix(".gif")) as gif:
        assert gif.n_frames == 4
    assert len(json.loads(out.with_suffix(".json").read_text())["views"]) == 4


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--turntable", "0"], "--turntable needs at least 1 frame"),
        (["--views", "front", "--turntable", "3"], "exclude each other"),
        (["--views", "behind"], "unknown view 'behind'"),
    ],
)
def test_bad_views_are_one_line(tmp_path, nerf_mixer, args, fragment):
    out = tmp_path / "bad.png"
    result = invoke("swap", "--mixer", str(nerf_mixer), "--source-seed", "1", "--target-seed", "2", "--out", str(out), *args)
    assert_one_line_error(result, fragment)
    assert list(tmp_path.iterdir()) == []


def test_a_mixer_for_other_rows_is_refused_naming_both(tmp_path):
    run = tmp_path / "run"
    train(load_config("tiny", FAST, kind="train"), run)
    result = invoke("swap", "--mixer", str(run / "mixer.safetensors"), "--source-seed", "1", "--target-seed", "2",
                    "--generator", "stylenerf", "--preset", "tiny", "--out", str(tmp_path / "x.png"))
    assert_one_line_error(result, "trained for 10×64 codes, but generator 'stylenerf' uses 15×32")
