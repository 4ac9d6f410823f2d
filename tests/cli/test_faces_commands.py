"""``lswap faces detect`` and ``lswap faces align``: faces found, photos that fail, one JSON document."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image, ImageDraw
from typer.testing import CliRunner

import lswap_core
from lswap_core.checkpoints import save_component
from lswap_core.cli import app
from lswap_core.convert import convert
from tests.cli.test_host_commands import assert_one_line_error
from tests.conftest import SHARED_ASSETS, needs_assets

runner = CliRunner()
IMAGES = SHARED_ASSETS / "images"
GROUP = IMAGES / "group-6-faces.jpg"
ASTRONAUT = IMAGES / "astronaut.png"
CROP = IMAGES / "single-face-crop.png"  # a 112² face filling the frame
MASK = IMAGES / "face-with-mask.jpg"  # a surgical mask on its own: no face
needs_weights = needs_assets("face-api", "images")


@pytest.fixture(scope="module")
def real_analyzer(tmp_path_factory):
    return convert(SHARED_ASSETS / "face-api", tmp_path_factory.mktemp("faces-cli") / "analyzer.safetensors")


@pytest.fixture
def blind_analyzer(tmp_path):
    """A random-weight analyzer that finds no face (its threshold is out of reach)."""
    torch.manual_seed(0)
    analyzer = lswap_core.load_face_analyzer("faceapi", preset="fast", min_score=0.999999, input_size=64)
    return save_component(analyzer, tmp_path / "blind.safetensors")


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (80, 60), (120, 90, 60)).save(path)
    return path


@pytest.fixture
def corrupt(tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(b"not a png")
    return path


def stderr_lines(result) -> list[str]:
    return result.stderr.strip().splitlines()


def json_document(result):
    """The one JSON document a --json command prints, on one line."""
    assert len(result.stdout.strip().splitlines()) == 1, result.stdout
    return json.loads(result.stdout)


def test_align_without_a_face_writes_nothing(tmp_path, blind_analyzer, photo):
    result = runner.invoke(app, ["faces", "align", str(photo), "-w", str(blind_analyzer), "-o", str(tmp_path / "out.png")])
    assert_one_line_error(result, "no face found")
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.json").exists()


def test_align_checks_its_options_first(tmp_path, blind_analyzer, photo):
    result = runner.invoke(app, ["faces", "align", str(photo), "-w", str(blind_analyzer), "-o", str(tmp_path / "out.txt")])
    assert_one_line_error(result, "image format")
    result = runner.invoke(app, ["faces", "align", str(photo), "-w", str(blind_analyzer), "-o", str(tmp_path), "--all-faces", "-i", "1"])
    assert_one_line_error(result, "exclude each other")


def test_align_checks_its_options_for_several_photos(tmp_path, blind_analyzer, photo):
    other = tmp_path / "other" / "photo.png"
    other.parent.mkdir()
    Image.new("RGB", (40, 40)).save(other)
    base = ["faces", "align", "-w", str(blind_analyzer)]
    result = runner.invoke(app, [*base, str(photo), str(CROP), "-o", str(tmp_path / "face.png")])
    assert_one_line_error(result, "with 2 photos, --out names a folder")
    result = runner.invoke(app, [*base, str(photo), str(other), "-o", str(tmp_path / "faces")])
    assert_one_line_error(result, "2 photos are named photo")
    result = runner.invoke(app, [*base, str(photo), "-o", str(tmp_path / "missing" / "face.png")])
    assert_one_line_error(result, "does not exist")
    for score in ("0", "1.5"):
        result = runner.invoke(app, [*base, str(photo), "-o", str(tmp_path / "face.png"), "--min-score", score])
        assert_one_line_error(result, "--min-score must lie between 0 and 1")
    assert not (tmp_path / "faces").exists()


def test_detect_without_a_face_fails_and_says_so(blind_analyzer, photo):
    result = runner.invoke(app, ["faces", "detect", str(photo), "-w", str(blind_analyzer)])
    assert_one_line_error(result, f"no face found in {photo}; ")
    assert "lower --min-score" in result.stderr and result.stdout == ""  # no empty table
    result = runner.invoke(app, ["faces", "detect", str(photo), "-w", str(blind_analyzer), "--json"])
    assert_one_line_error(result, f"no face found in {photo}")
    assert json_document(result) == [{"image": str(photo), "faces": [], "error": None}]


def test_detect_checks_min_score(blind_analyzer, photo):
    result = runner.invoke(app, ["faces", "detect", str(photo), "-w", str(blind_analyzer), "--min-score", "1"])
    assert_one_line_error(result, "--min-score must lie between 0 and 1, got 1.0")


def test_faces_commands_run_on_the_automatic_device(monkeypatch, tmp_path, blind_analyzer, photo):
    import lswap_core.devices

    asked = []
    monkeypatch.setattr(lswap_core.devices, "resolve_device", lambda name: asked.append(name) or torch.device("cpu"))
    runner.invoke(app, ["faces", "detect", str(photo), "-w", str(blind_analyzer)])
    runner.invoke(app, ["faces", "align", str(photo), "-w", str(blind_analyzer), "-o", str(tmp_path / "face.png")])
    runner.invoke(app, ["faces", "detect", str(photo), "-w", str(blind_analyzer), "--device", "cpu"])
    assert asked == ["auto", "auto", "cpu"]


@needs_weights
def test_detect_lists_the_six_faces(real_analyzer):
    result = runner.invoke(app, ["faces", "detect", str(GROUP), "-w", str(real_analyzer), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json_document(result)
    assert entry["error"] is None and [face["index"] for face in entry["faces"]] == list(range(6))
    centres = [(face["box"][0] + face["box"][2]) / 2 for face in entry["faces"]]
    assert centres == sorted(centres) and all(len(face["landmarks"]) == 68 for face in entry["faces"])


@needs_weights
def test_align_one_face_of_several(tmp_path, real_analyzer):
    out = tmp_path / "face.png"
    result = runner.invoke(app, ["faces", "align", str(GROUP), "-w", str(real_analyzer), "-o", str(out)])
    assert_one_line_error(result, "shows 6 faces; choose one with --face-index 0..5")
    result = runner.invoke(app, ["faces", "align", str(GROUP), "-w", str(real_analyzer), "-o", str(out), "-i", "2", "--size", "128"])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (128, 128)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["face_index"] == 2 and record["size"] == 128 and record["image_size"] == [886, 1280]
    assert len(record["matrix"]) == 3 and len(record["landmarks"]) == 68


@needs_weights
def test_align_all_faces(tmp_path, real_analyzer):
    result = runner.invoke(app, ["faces", "align", str(GROUP), "-w", str(real_analyzer), "-o", str(tmp_path / "faces"), "--all-faces", "--size", "64"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "faces").glob("*.png")) == [f"group-6-faces_face{i}.png" for i in range(6)]


@needs_weights
def test_detect_finds_a_face_filling_the_frame(real_analyzer):
    result = runner.invoke(app, ["faces", "detect", str(CROP), "-w", str(real_analyzer), "--json"])
    assert result.exit_code == 0, result.output
    ((face,),) = [entry["faces"] for entry in json_document(result)]
    assert face["score"] > 0.9 and -15 < face["box"][0] < face["box"][2] < 127  # pixels of the 112² photo


@needs_weights
def test_detect_goes_on_past_photos_that_fail(tmp_path, real_analyzer, corrupt):
    missing = tmp_path / "missing.jpg"
    photos = [GROUP, missing, corrupt, MASK, CROP]
    result = runner.invoke(app, ["faces", "detect", *map(str, photos), "-w", str(real_analyzer), "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json_document(result)
    assert [entry["image"] for entry in report] == list(map(str, photos))
    assert [len(entry["faces"]) for entry in report] == [6, 0, 0, 0, 1]
    assert report[1]["error"].startswith(f"photo {missing} does not exist; check the path")
    assert report[2]["error"].startswith(f"{corrupt} is not an image file")
    assert [entry["error"] for entry in (report[0], report[3], report[4])] == [None, None, None]
    lines = stderr_lines(result)
    assert len(lines) == 3
    assert lines[0].startswith(f"error: photo {missing} does not exist") and lines[1].startswith(f"error: {corrupt}")
    assert lines[2].startswith(f"warning: no face found in {MASK}")  # not a failure: the others show faces

    result = runner.invoke(app, ["faces", "detect", *map(str, photos[1:]), "-w", str(real_analyzer)])
    assert result.exit_code == 1 and stderr_lines(result) == lines
    assert f"{CROP}: 1 face(s)" in result.stdout and str(MASK) not in result.stdout  # tables of photos with faces only


@needs_weights
def test_detect_fails_when_no_photo_shows_a_face(tmp_path, real_analyzer):
    result = runner.invoke(app, ["faces", "detect", str(MASK), "-w", str(real_analyzer)])
    assert_one_line_error(result, f"no face found in {MASK}")
    result = runner.invoke(app, ["faces", "detect", str(MASK), str(tmp_path / "missing.png"), "-w", str(real_analyzer)])
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in stderr_lines(result)] == ["error", "error"]


@needs_weights
def test_min_score_trades_partly_covered_faces_for_certainty(tmp_path, real_analyzer):
    def detect(path, *options):
        result = runner.invoke(app, ["faces", "detect", str(path), "-w", str(real_analyzer), "--json", *options])
        assert result.exit_code == 0, result.output
        return json_document(result)[0]["faces"]

    faces = detect(GROUP)
    strict = detect(GROUP, "--min-score", "0.965")
    assert [face["box"] for face in strict] == [face["box"] for face in faces if face["score"] >= 0.965] and len(strict) == 2
    # cover every face from below the nose down, as a mask does
    covered = Image.open(GROUP).convert("RGB")
    draw = ImageDraw.Draw(covered)
    for left, top, right, bottom in (face["box"] for face in faces):
        draw.rectangle((left, (top + bottom) / 2 + 5, right, bottom), fill=(240, 240, 240))
    covered.save(tmp_path / "covered.png")
    default, lenient = detect(tmp_path / "covered.png"), detect(tmp_path / "covered.png", "--min-score", "0.3")
    assert len(default) < len(lenient) <= 6
    assert all(face["score"] >= 0.3 for face in lenient) and min(face["score"] for face in lenient) < 0.5


@needs_weights
def test_align_goes_on_past_photos_that_fail(tmp_path, real_analyzer, corrupt):
    out = tmp_path / "faces"
    photos = [ASTRONAUT, tmp_path / "missing.jpg", corrupt, MASK, GROUP, CROP]
    result = runner.invoke(app, ["faces", "align", *map(str, photos), "-w", str(real_analyzer), "-o", str(out), "--size", "64"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "astronaut_face0.json", "astronaut_face0.png", "single-face-crop_face0.json", "single-face-crop_face0.png",
    ]
    lines = stderr_lines(result)
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines)
    for line, photo, fragment in zip(lines, photos[1:5], ["check the path", "not an image file", "no face found", "--face-index 0..5"]):
        assert str(photo) in line and fragment in line
    record = json.loads((out / "single-face-crop_face0.json").read_text())
    assert record["image_size"] == [112, 112] and record["source"] == str(CROP)


@needs_weights
def test_align_leaves_nothing_half_written(monkeypatch, tmp_path, real_analyzer):
    import lswap_core.faces
    from lswap_core.errors import InputError

    out = tmp_path / "faces"
    out.mkdir()
    (out / "single-face-crop_face0.json").mkdir()  # the crop's record cannot be written
    aligned = []
    real_align = lswap_core.faces.align_face

    def align_failing_on_the_third_face(*args, **kwargs):
        aligned.append(1)
        if len(aligned) == 3:
            raise InputError("the face lies outside the image")
        return real_align(*args, **kwargs)

    monkeypatch.setattr(lswap_core.faces, "align_face", align_failing_on_the_third_face)
    result = runner.invoke(app, ["faces", "align", str(GROUP), str(CROP), str(ASTRONAUT), "-w", str(real_analyzer),
                                 "-o", str(out), "--all-faces", "--size", "64"])
    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert len(lines) == 2 and lines[0].startswith(f"error: {GROUP}: the face lies outside the image")
    assert str(CROP) in lines[1] or "single-face-crop_face0" in lines[1]
    # the group photo failed before anything was written, the crop's image went with its record
    assert sorted(p.name for p in out.iterdir()) == ["astronaut_face0.json", "astronaut_face0.png", "single-face-crop_face0.json"]
    assert not any((out / "single-face-crop_face0.json").iterdir())


@needs_weights
def test_align_never_replaces_outputs_silently(tmp_path, real_analyzer):
    out = tmp_path / "face.png"
    out.write_bytes(b"keep me")
    align = ["faces", "align", str(ASTRONAUT), "-w", str(real_analyzer), "--size", "64"]
    assert_one_line_error(runner.invoke(app, [*align, "-o", str(out)]), f"{out} already exists; pass --overwrite")
    assert out.read_bytes() == b"keep me"
    assert runner.invoke(app, [*align, "-o", str(out), "--overwrite"]).exit_code == 0
    assert Image.open(out).size == (64, 64)

    # into a folder, faces already there are skipped: a stopped run finishes the rest when run again
    folder = tmp_path / "faces"
    align_all = ["faces", "align", str(GROUP), "-w", str(real_analyzer), "-o", str(folder), "--all-faces", "--size", "64"]
    assert runner.invoke(app, align_all).exit_code == 0
    (folder / "group-6-faces_face3.json").unlink()
    (folder / "group-6-faces_face0.png").write_bytes(b"kept")
    result = runner.invoke(app, align_all)
    assert result.exit_code == 0 and "group-6-faces_face3.png (face 3" in result.stdout
    assert "skipped 5 face(s)" in result.stdout and (folder / "group-6-faces_face0.png").read_bytes() == b"kept"
    assert (folder / "group-6-faces_face3.json").exists()
    result = runner.invoke(app, [*align_all, "--overwrite"])
    assert result.exit_code == 0 and "skipped" not in result.stdout
    assert Image.open(folder / "group-6-faces_face0.png").size == (64, 64)
