"""Swapping faces in real photos (``lswap swap --source A --target B``, ``lswap_core.swap_photos``) with
face-api's real weights, the ``tiny`` StyleGAN2, a tiny mixer trained here and the inverters' ``tiny``
presets (skipped without the shared assets)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import lswap_core
from lswap_core.cli import app
from lswap_core.config import load_config
from lswap_core.errors import InputError
from lswap_core.imaging import load_image
from lswap_core.inverting import _aligned
from lswap_core.mixer import load_mixer
from lswap_core.plugins import register_plugin
from lswap_core.swapping import generator_for
from lswap_core.training import train
from tests.cli.test_host_commands import assert_one_line_error
from tests.cli.conftest import ASTRONAUT, CLOSE_UP
from tests.conftest import needs_assets
from tests.unit.test_faces import face_landmarks

pytestmark = needs_assets("face-api", "images/astronaut.png", "images/single-face-crop.png")
runner = CliRunner()


@pytest.fixture(scope="module")
def mixer_file(tmp_path_factory):
    run = tmp_path_factory.mktemp("mixer") / "run"
    train(load_config("tiny", ["train.steps=2"], kind="train"), run)
    return run / "mixer.safetensors"


def swap(face_networks, mixer_file, *args: str):
    command = ["swap", "--mixer", str(mixer_file), "--inverter-preset", "tiny", "--device", "cpu", *face_networks, *args]
    return runner.invoke(app, command, env={"LSWAP_NO_PROGRESS": "1"})


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_the_python_api_pastes_into_the_target_and_leaves_the_rest(mixer_file, face_networks):
    analyzer = lswap_core.load_face_analyzer("faceapi", weights=face_networks[1])
    mixer = load_mixer(mixer_file)
    result = lswap_core.swap_photos(
        CLOSE_UP, ASTRONAUT, generator=generator_for(mixer), mixer=mixer,
        inverter=lswap_core.load_inverter("pti", preset="tiny"), analyzer=analyzer,
    )
    target = load_image(ASTRONAUT)
    assert result.image.shape == target.shape and result.mask.shape == (1, *target.shape[1:])
    untouched = result.mask[0] == 0
    assert torch.equal(result.image[:, untouched], target[:, untouched])
    assert not torch.equal(result.image, target)
    box = analyzer.detect(target)[0].box  # the face's centre lies well inside the mask
    assert result.mask[0, int((box[1] + box[3]) / 2), int((box[0] + box[2]) / 2)] == 1
    assert result.swap.shape == (3, 64, 64) and result.swap_ws.shape == (1, 10, 64)
    for field in ("source", "target", "mask", "landmarks", "seconds", "warnings"):
        assert field in result.report


def test_one_pair_writes_the_photo_and_a_full_report(tmp_path, mixer_file, face_networks):
    out = tmp_path / "swap.png"
    result = swap(face_networks, mixer_file, "--source", str(CLOSE_UP), "--target", str(ASTRONAUT), "--out", str(out),
                  "--grid", "--save-aligned", "--save-codes")
    assert result.exit_code == 0, result.output
    assert "identity to source" in result.stdout and "mask" in result.stdout
    assert Image.open(out).size == Image.open(ASTRONAUT).size
    report = json.loads(out.with_suffix(".json").read_text())
    face = report["faces"][0]
    assert set(face) >= {"source", "target", "identity", "landmarks", "mask", "seconds", "warnings"}
    assert set(face["source"]["reconstruction"]) == {"psnr", "lpips", "identity"}
    assert set(face["seconds"]) >= {"projection", "tuning", "mix", "render", "paste"}
    assert set(report["components"]) == {"generator", "mixer", "inverter", "analyzer", "embedder"}
    assert report["components"]["mixer"]["sha256"] and report["versions"]["torch"] == torch.__version__
    assert all(report["components"][name]["tensors_sha256"] for name in ("inverter", "analyzer", "embedder"))
    assert report["components"]["generator"]["state_sha256"]
    changed = (pixels(out) != pixels(ASTRONAUT)).any(axis=2).sum()
    assert 0 < changed <= face["mask"]["pixels"]
    for name in ("swap_grid.png", "swap_source.png", "swap_target.png", "swap_swap.png", "swap.codes.safetensors"):
        assert (tmp_path / name).exists(), name
    again = swap(face_networks, mixer_file, "--source", str(CLOSE_UP), "--target", str(ASTRONAUT), "--out", str(out))
    assert_one_line_error(again, "already exists")


def test_a_batch_resumes_and_reports_failures(tmp_path, mixer_file, face_networks):
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(CLOSE_UP, sources / "close.png")
    shutil.copy(ASTRONAUT, sources / "astro.png")
    (sources / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    out = tmp_path / "out"
    result = swap(face_networks, mixer_file, "--source", str(sources), "--target", str(ASTRONAUT), "--out", str(out))
    assert result.exit_code == 1
    assert sorted(p.name for p in out.glob("*.png")) == ["astronaut__astro.png", "astronaut__close.png"]
    assert "broken.png" in result.stderr and "2 swapped, 0 already there, 1 failed" in result.stdout
    (sources / "broken.png").unlink()
    again = swap(face_networks, mixer_file, "--source", str(sources), "--target", str(ASTRONAUT), "--out", str(out))
    assert again.exit_code == 0 and "nothing to do" in again.stdout


def test_a_generated_face_pairs_with_a_photo(tmp_path, mixer_file, face_networks):
    out = tmp_path / "seed.png"
    result = swap(face_networks, mixer_file, "--source-seed", "3", "--target", str(CLOSE_UP), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["source"] == "seed 3"
    assert Image.open(out).size == Image.open(CLOSE_UP).size  # a face that fills the frame is pasted inside it


def test_e4e_and_the_multi_mode_swap_too(tmp_path, mixer_file, face_networks):
    for name, extra in (("e4e.png", ["--inverter", "e4e"]), ("multi.png", ["--set", "inverter.mode=multi"])):
        result = swap(face_networks, mixer_file, "--source", str(CLOSE_UP), "--target", str(ASTRONAUT),
                      "--out", str(tmp_path / name), *extra)
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--target-face", "4"], "--target-face 4 is out of range"),
        (["--source-face", "2"], "--source-face 2 is out of range"),
        (["--set", "inverter.tuning_lr=1e30"], "tuning loss became"),
        (["--preset", "tiny", "--init-seed", "9"], "was made with the generator"),
        (["--color", "histogram"], "unknown --color"),
        (["--out", "/proc/lswap-test/swap.png"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, mixer_file, face_networks, args, fragment):
    out = tmp_path / "swap.png"
    command = ["--source", str(CLOSE_UP), "--target", str(ASTRONAUT)]
    if "--out" not in args:
        command += ["--out", str(out)]
    assert_one_line_error(swap(face_networks, mixer_file, *command, *args), fragment)
    assert list(tmp_path.iterdir()) == []


def test_photos_without_faces_or_unreadable_are_one_line(tmp_path, mixer_file, face_networks):
    Image.new("RGB", (200, 160), (90, 140, 200)).save(tmp_path / "sky.png")
    (tmp_path / "cut.jpg").write_bytes(ASTRONAUT.read_bytes()[:300])
    for name, fragment in (("sky.png", "no face found"), ("cut.jpg", "is truncated or corrupt")):
        out = tmp_path / f"out-{name}.png"
        assert_one_line_error(
            swap(face_networks, mixer_file, "--source", str(CLOSE_UP), "--target", str(tmp_path / name), "--out", str(out)),
            fragment,
        )
        assert not out.exists()


def test_a_face_too_small_to_align_says_the_minimum():
    photo = torch.zeros(3, 120, 120)
    landmarks = face_landmarks(center=(60.0, 60.0), eye_distance=6.0)
    with pytest.raises(InputError, match="at least 64 are needed"):
        _aligned(Path("tiny.png"), photo, 0, landmarks, 64, 0.0)


def test_the_swap_benchmark_reports_each_stage(face_networks):
    args = ["bench", "swap", "--source", str(CLOSE_UP), "--target", str(ASTRONAUT), "--generator-preset", "tiny",
            "--projection-steps", "1", "--tuning-steps", "1", "--device", "cpu",
            "--analyzer-weights", face_networks[1], "--embedder-weights", face_networks[3]]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for stage in ("align", "projection", "tuning", "render", "paste", "total"):
        assert stage in result.stdout


@needs_assets("images/group-6-faces.jpg")
def test_every_face_of_a_group_photo_is_swapped(tmp_path, mixer_file, face_networks):
    group = ASTRONAUT.parent / "group-6-faces.jpg"
    out = tmp_path / "group.png"
    result = swap(face_networks, mixer_file, "--source", str(CLOSE_UP), "--target", str(group), "--out", str(out),
                  "--target-face", "all", "--inverter", "e4e")
    assert result.exit_code == 0, result.output
    faces = json.loads(out.with_suffix(".json").read_text())["faces"]
    assert [face["target"]["face_index"] for face in faces] == list(range(6))
    changed = (pixels(out) != pixels(group)).any(axis=2)
    assert changed.sum() <= sum(face["mask"]["pixels"] for face in faces)


def test_pairs_come_from_folders_in_order_or_from_a_csv(tmp_path):
    from lswap_core.cli.photo_swap import Side, pair_up

    a, b, c = (Side(photo=tmp_path / f"{name}.jpg") for name in "abc")
    assert pair_up([a, b], [c], "all") == [(a, c), (b, c)]
    assert pair_up([a, b], [b, c], "zip") == [(a, b), (b, c)]
    with pytest.raises(InputError, match="as many sources as targets"):
        pair_up([a, b], [c], "zip")
    listing = tmp_path / "pairs.csv"
    listing.write_text("source,target\na.jpg, c.jpg\n# skipped\n/abs/b.jpg,a.jpg\n")
    assert pair_up([], [], str(listing)) == [(a, c), (Side(photo=Path("/abs/b.jpg")), a)]
    listing.write_text("a.jpg\n")
    with pytest.raises(InputError, match="line 1: expected source,target"):
        pair_up([], [], str(listing))
    with pytest.raises(InputError, match="not all, zip or a CSV file"):
        pair_up([a], [c], "every")


def test_ctrl_c_stops_the_swap_and_writes_nothing(tmp_path, mixer_file, face_networks, monkeypatch):
    import lswap_core.photo_swap
    from lswap_core.errors import Cancelled

    def cancelled(*args, **kwargs):
        raise Cancelled("inversion with 'pti' cancelled after 2 of 12 steps")

    monkeypatch.setattr(lswap_core.photo_swap, "swap_faces", cancelled)
    out = tmp_path / "swap.png"
    result = swap(face_networks, mixer_file, "--source", str(CLOSE_UP), "--target", str(ASTRONAUT), "--out", str(out))
    assert result.exit_code == 130 and "stopped while swapping" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_output_keeps_the_target_photos_mode(tmp_path, mixer_file, face_networks):
    gray = tmp_path / "gray.png"
    Image.open(ASTRONAUT).convert("L").save(gray)
    out = tmp_path / "gray-swap.png"
    result = swap(face_networks, mixer_file, "--source", str(CLOSE_UP), "--target", str(gray), "--out", str(out), "--inverter", "e4e")
    assert result.exit_code == 0, result.output
    with Image.open(out) as written:
        assert written.mode == "L" and written.size == Image.open(gray).size


def test_a_photo_swap_takes_edits(tmp_path, mixer_file, face_networks):
    from tests.cli.test_edit import WidePlugin

    register_plugin(WidePlugin(), "wide-toys")
    base = ["--source", str(CLOSE_UP), "--target", str(ASTRONAUT), "--inverter", "e4e"]
    plain = swap(face_networks, mixer_file, *base, "--out", str(tmp_path / "plain.png"))
    edited = swap(face_networks, mixer_file, *base, "--out", str(tmp_path / "edited.png"), "--editor", "wide-toy-editor", "--edit", "up=+3")
    assert plain.exit_code == 0 and edited.exit_code == 0, edited.output
    assert not np.array_equal(pixels(tmp_path / "plain.png"), pixels(tmp_path / "edited.png"))
    assert json.loads((tmp_path / "edited.json").read_text())["settings"]["edits"] == ["up=+3"]


def test_reduced_precision_swaps_and_inversions(tmp_path, mixer_file, face_networks):
    photo = swap(face_networks, mixer_file, "--source", str(CLOSE_UP), "--target", str(ASTRONAUT), "--out", str(tmp_path / "bf16.png"),
                 "--precision", "bf16")
    assert photo.exit_code == 0, photo.output
    assert json.loads((tmp_path / "bf16.json").read_text())["settings"]["precision"] == "bf16"
    seeds = swap(face_networks, mixer_file, "--source-seed", "1", "--target-seed", "2", "--out", str(tmp_path / "fp16.png"), "--precision", "fp16")
    assert seeds.exit_code == 0, seeds.output
    inverted = runner.invoke(app, ["invert", str(CLOSE_UP), "--out", str(tmp_path / "inv"), "--preset", "tiny", "--inverter-preset", "tiny",
                                   "--device", "cpu", "--precision", "bf16", *face_networks], env={"LSWAP_NO_PROGRESS": "1"})
    assert inverted.exit_code == 0, inverted.output
    assert_one_line_error(swap(face_networks, mixer_file, "--source-seed", "1", "--target-seed", "2", "--out", str(tmp_path / "x.png"),
                               "--precision", "fp8"), "unknown precision 'fp8'")
