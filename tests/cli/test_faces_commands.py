"""``lswap faces detect`` and ``lswap faces align``."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import lswap_core
from lswap_core.checkpoints import save_component
from lswap_core.cli import app
from lswap_core.convert import convert
from tests.cli.test_host_commands import assert_one_line_error
from tests.conftest import SHARED_ASSETS, needs_assets

runner = CliRunner()
GROUP = SHARED_ASSETS / "images" / "group-6-faces.jpg"
needs_weights = needs_assets("face-api", "images/group-6-faces.jpg")


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


def test_align_without_a_face_writes_nothing(tmp_path, blind_analyzer, photo):
    result = runner.invoke(app, ["faces", "align", str(photo), "-w", str(blind_analyzer), "-o", str(tmp_path / "out.png")])
    assert_one_line_error(result, "no face found")
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.json").exists()


def test_align_checks_its_options_first(tmp_path, blind_analyzer, photo):
    result = runner.invoke(app, ["faces", "align", str(photo), "-w", str(blind_analyzer), "-o", str(tmp_path / "out.txt")])
    assert_one_line_error(result, "image format")
    result = runner.invoke(app, ["faces", "align", str(photo), "-w", str(blind_analyzer), "-o", str(tmp_path), "--all-faces", "-i", "1"])
    assert_one_line_error(result, "exclude each other")


def test_detect_reports_no_faces_as_json(blind_analyzer, photo):
    result = runner.invoke(app, ["faces", "detect", str(photo), "-w", str(blind_analyzer), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"image": str(photo), "faces": []}]


@needs_weights
def test_detect_lists_the_six_faces(real_analyzer):
    result = runner.invoke(app, ["faces", "detect", str(GROUP), "-w", str(real_analyzer), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert [face["index"] for face in entry["faces"]] == list(range(6))
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
