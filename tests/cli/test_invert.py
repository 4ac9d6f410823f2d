"""``lswap invert`` on real photos, with face-api's real weights (skipped without the shared assets),
the ``tiny`` StyleGAN2 and the inverters' ``tiny`` presets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import lswap_core
from lswap_core.cli import app
from lswap_core.errors import Cancelled, IncompatibleLatentError
from lswap_core.imaging import load_image
from lswap_core.inversions import load_inversion
from tests.cli.test_host_commands import assert_one_line_error
from tests.cli.conftest import ASTRONAUT, CLOSE_UP
from tests.conftest import needs_assets

pytestmark = needs_assets("face-api", "images/astronaut.png", "images/single-face-crop.png")
runner = CliRunner()


def invert(face_networks, *args: str):
    command = ["invert", *args, "--preset", "tiny", "--inverter-preset", "tiny", "--device", "cpu", *face_networks]
    return runner.invoke(app, command, env={"LSWAP_NO_PROGRESS": "1"})


def files_in(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_photos_are_aligned_inverted_reconstructed_and_measured(tmp_path, face_networks):
    out = tmp_path / "out"
    result = invert(face_networks, str(ASTRONAUT), str(CLOSE_UP), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert files_in(out) == sorted(
        f"{stem}{suffix}" for stem in ("astronaut", "single-face-crop")
        for suffix in ("_aligned.png", "_aligned.json", "_reconstruction.png", ".inversion.safetensors")
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all("PSNR" in line and "LPIPS" in line and "identity" in line and "tuning" in line for line in lines)
    saved = load_inversion(out / "astronaut.inversion.safetensors")
    assert saved.inverter == "pti" and saved.inversion.ws.shape == (1, 10, 64) and saved.inversion.generator_state
    assert saved.source["photo"] == str(ASTRONAUT) and set(saved.source["quality"]) == {"psnr", "lpips", "identity"}
    generator = lswap_core.load_generator("stylegan2", preset="tiny")
    with torch.no_grad():
        image = saved.apply(generator).synthesis(saved.inversion.ws).clamp(-1, 1)[0]
    assert (image - load_image(out / "astronaut_reconstruction.png")).abs().max() <= 1 / 127.5 + 1e-6
    assert json.loads((out / "astronaut_aligned.json").read_text())["face_index"] == 0

    again = invert(face_networks, str(ASTRONAUT), "--out", str(out))
    assert again.exit_code == 0 and "nothing to do" in again.stdout


def test_multi_mode_tunes_one_generator_for_all_photos(tmp_path, face_networks):
    out = tmp_path / "out"
    result = invert(face_networks, str(ASTRONAUT), str(CLOSE_UP), "--out", str(out), "--set", "inverter.mode=multi")
    assert result.exit_code == 0, result.output
    first, second = (load_inversion(out / f"{stem}.inversion.safetensors").inversion for stem in ("astronaut", "single-face-crop"))
    assert first.generator_state.keys() == second.generator_state.keys()
    assert all(torch.equal(first.generator_state[key], second.generator_state[key]) for key in first.generator_state)


def test_e4e_inverts_in_one_pass(tmp_path, face_networks):
    out = tmp_path / "out"
    result = invert(face_networks, str(CLOSE_UP), "--out", str(out), "--inverter", "e4e")
    assert result.exit_code == 0, result.output
    assert "encoding" in result.stdout and "LPIPS" not in result.stdout
    assert load_inversion(out / "single-face-crop.inversion.safetensors").inversion.generator_state is None


def test_photos_in_other_modes_are_read_upright(tmp_path, face_networks):
    """Grayscale 16-bit, CMYK and an EXIF-rotated copy find the same face as the original."""
    rgb = Image.open(CLOSE_UP).convert("RGB")
    gray16 = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    gray16.save(tmp_path / "gray16.png")
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=98)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90° anticlockwise: viewers turn it back clockwise
    rgb.rotate(90, expand=True).save(tmp_path / "rotated.jpg", quality=98, exif=exif)
    out = tmp_path / "out"
    reference = tmp_path / "reference"
    assert invert(face_networks, str(CLOSE_UP), "--out", str(reference), "--inverter", "e4e").exit_code == 0
    photos = [str(tmp_path / name) for name in ("gray16.png", "cmyk.jpg", "rotated.jpg")]
    result = invert(face_networks, *photos, "--out", str(out), "--inverter", "e4e")
    assert result.exit_code == 0, result.output
    aligned = load_image(reference / "single-face-crop_aligned.png")
    for stem, tolerance in (("cmyk", 0.08), ("rotated", 0.08)):
        assert (load_image(out / f"{stem}_aligned.png") - aligned).abs().mean() < tolerance, stem
    gray = load_image(out / "gray16_aligned.png")
    assert torch.equal(gray[0], gray[1]) and (gray.mean(0) - aligned.mean(0)).abs().mean() < 0.08


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--face", "3"], "--face 3 is out of range"),
        (["--set", "inverter.tuning_lr=1e30"], "tuning loss became"),
        (["--set", "mixer.steps=3"], "takes inverter options only"),
        (["--set", "inverter.projection_lr=-1"], "projection_lr must be positive"),
        (["--inverter", "e4e", "--inverter-preset", None], "the e4e encoder makes 18x512 codes"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, face_networks, args, fragment):
    args = [arg for arg in args if arg is not None]
    out = tmp_path / "out"
    command = ["invert", str(CLOSE_UP), "--out", str(out), "--preset", "tiny", "--device", "cpu", *face_networks, *args]
    if "--inverter-preset" not in args:
        command += ["--inverter-preset", "tiny"]
    else:
        command.remove("--inverter-preset")
    assert_one_line_error(runner.invoke(app, command, env={"LSWAP_NO_PROGRESS": "1"}), fragment)
    assert files_in(out) == []


def test_a_photo_without_a_face_or_unreadable_is_one_line(tmp_path, face_networks):
    Image.new("RGB", (200, 160), (90, 140, 200)).save(tmp_path / "sky.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    for photo, fragment in (("sky.png", "no face found"), ("broken.png", "is not an image file lswap can read"), ("absent.png", "does not exist")):
        out = tmp_path / f"out-{photo}"
        assert_one_line_error(invert(face_networks, str(tmp_path / photo), "--out", str(out)), fragment)
        assert files_in(out) == []


def test_ctrl_c_stops_the_inversion_and_writes_nothing(tmp_path, face_networks, monkeypatch):
    import lswap_core.inverting

    def cancelled(*args, **kwargs):
        raise Cancelled("inversion with 'pti' cancelled after 3 of 12 steps")

    monkeypatch.setattr(lswap_core.inverting, "invert_photos", cancelled)
    out = tmp_path / "out"
    result = invert(face_networks, str(CLOSE_UP), "--out", str(out))
    assert result.exit_code == 130 and "stopped while inverting" in result.stderr
    assert files_in(out) == []


def test_a_tuned_state_refuses_another_generator(tmp_path, face_networks):
    out = tmp_path / "out"
    assert invert(face_networks, str(CLOSE_UP), "--out", str(out)).exit_code == 0
    saved = load_inversion(out / "single-face-crop.inversion.safetensors")
    other = lswap_core.load_generator("stylegan2", preset="tiny", init_seed=5)
    with pytest.raises(IncompatibleLatentError, match="this inversion was made with the generator stylegan2 preset tiny"):
        saved.apply(other)
