"""``lswap generate``: seeded images and codes, written all at once or not at all."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import lswap_core
from lswap_core.checkpoints import read_export, save_component
from lswap_core.cli import app
from lswap_core.cli import generate as generate_module

runner = CliRunner()


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    generator = lswap_core.load_generator("stylegan2", preset="tiny")
    generator.w_avg.copy_(generator.mean_w(512))
    return save_component(generator, tmp_path / "tiny.safetensors")


def generate(*args: str):
    return runner.invoke(app, ["generate", *args], env={"LSWAP_NO_PROGRESS": "1"})


def test_writes_pngs_and_codes_from_seeds(tmp_path, weights):
    out = tmp_path / "out"
    result = generate(
        "--weights", str(weights), "--seeds", "0-2,7", "--trunc", "0.7", "--out", str(out), "--save-latents"
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"seed{s:04d}.{ext}" for s in (0, 1, 2, 7) for ext in ("png", "safetensors")]
    image = Image.open(out / "seed0007.png")
    assert image.size == (64, 64) and image.mode == "RGB"

    # The code of a seed is the mapping of NVlabs' z for that seed, truncated.
    generator = lswap_core.load_generator("stylegan2", weights=weights)
    z = torch.from_numpy(np.random.RandomState(7).randn(1, 64)).float()
    latent = read_export(out / "seed0007.safetensors")
    assert latent.kind == "latent" and latent.config["seed"] == 7
    torch.testing.assert_close(latent.tensors["ws"], generator.mapping(z, truncation_psi=0.7))

    # And the image is that code rendered with constant noise.
    with torch.no_grad():
        expected = lswap_core.imaging.to_uint8(generator.synthesis(latent.tensors["ws"], noise_mode="const"))[0]
    assert np.array_equal(np.asarray(image), expected.numpy())


def test_same_seed_same_image_whatever_else_is_generated(tmp_path, weights):
    assert generate("--weights", str(weights), "--seeds", "0-3", "--out", str(tmp_path / "a")).exit_code == 0
    assert generate("--weights", str(weights), "--seeds", "2", "--out", str(tmp_path / "b")).exit_code == 0
    assert (tmp_path / "a" / "seed0002.png").read_bytes() == (tmp_path / "b" / "seed0002.png").read_bytes()
    assert (tmp_path / "a" / "seed0001.png").read_bytes() != (tmp_path / "a" / "seed0002.png").read_bytes()


def test_random_noise_is_seeded_too(tmp_path, weights):
    for name in ("a", "b"):
        out = str(tmp_path / name)
        result = generate("--weights", str(weights), "--seeds", "5", "--noise-mode", "random", "--out", out)
        assert result.exit_code == 0
    assert (tmp_path / "a" / "seed0005.png").read_bytes() == (tmp_path / "b" / "seed0005.png").read_bytes()


def test_a_preset_renders_a_random_network(tmp_path):
    result = generate("--preset", "tiny", "--seeds", "1", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "seed0001.png").is_file()


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


def test_bad_requests_are_one_line_errors(tmp_path, weights):
    out = str(tmp_path / "o")
    assert_one_line_error(generate("--weights", str(weights), "--seeds", "4-1", "--out", out), "cannot read seeds")
    assert_one_line_error(generate("--seeds", "1", "--out", out), "no network given")
    assert_one_line_error(generate("--preset", "tiny", "--noise-mode", "loud", "--out", out), "unknown noise mode")
    unknown = generate("-g", "stylegan3", "--preset", "tiny", "--out", out)
    assert_one_line_error(unknown, "no generator named 'stylegan3'")
    assert_one_line_error(generate("--weights", str(weights), "--preset", "tiny", "--out", out), "were both given")
    assert not (tmp_path / "o").exists()


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path, weights):
    out = tmp_path / "o"
    out.mkdir()
    (out / "seed0001.png").write_bytes(b"keep me")
    result = generate("--weights", str(weights), "--seeds", "0-1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 1 image(s)" in result.stdout and "skipped 1 already there" in result.stdout
    assert (out / "seed0001.png").read_bytes() == b"keep me"
    assert "nothing to do" in generate("--weights", str(weights), "--seeds", "0-1", "--out", str(out)).stdout
    assert generate("--weights", str(weights), "--seeds", "1", "--out", str(out), "--overwrite").exit_code == 0
    assert Image.open(out / "seed0001.png").size == (64, 64)


def test_an_interrupted_command_finishes_the_rest_when_run_again(tmp_path, weights, monkeypatch):
    written = []
    real_write = generate_module._write_png

    def failing_write(path, image):
        if written:
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        real_write(path, image)

    monkeypatch.setattr(generate_module, "_write_png", failing_write)
    out = tmp_path / "o"
    result = generate("--weights", str(weights), "--seeds", "0-3", "--out", str(out))
    assert_one_line_error(result, "No space left on device")
    assert sorted(p.name for p in out.iterdir()) == ["seed0000.png"]  # complete files only, no temporary ones
    monkeypatch.setattr(generate_module, "_write_png", real_write)
    finished = generate("--weights", str(weights), "--seeds", "0-3", "--out", str(out))
    assert "wrote 3 image(s)" in finished.stdout and "skipped 1" in finished.stdout
    assert sorted(p.name for p in out.iterdir()) == [f"seed000{i}.png" for i in range(4)]


def test_duplicate_seeds_are_rendered_once():
    from lswap_core.cli.options import parse_seeds

    assert parse_seeds("1,1,0-2") == [1, 0, 2]


def test_a_preset_network_is_the_same_on_every_run(tmp_path):
    for name in ("a", "b"):
        assert generate("--preset", "tiny", "--seeds", "0-1", "--out", str(tmp_path / name)).exit_code == 0
    assert generate("--preset", "tiny", "--init-seed", "3", "--seeds", "0-1", "--out", str(tmp_path / "c")).exit_code == 0
    first, second, other = ((tmp_path / name / "seed0001.png").read_bytes() for name in "abc")
    assert first == second and first != other


def test_building_a_component_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    lswap_core.load_generator("stylegan2", preset="tiny", init_seed=4)
    assert torch.equal(torch.rand(3), expected)
