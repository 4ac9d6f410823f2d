"""``lswap directions fit|pca`` through the real application, and their directions used by ``lswap edit``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import lswap_core
from lswap_core import hookimpl
from lswap_core.checkpoints import save_component
from lswap_core.cli import app
from lswap_core.errors import InputError
from lswap_core.interfaces import DetectedFace, FaceAnalyzer
from lswap_core.plugins import register_plugin
from tests.cli.test_host_commands import assert_one_line_error

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"LSWAP_NO_PROGRESS": "1"})


def test_fitted_directions_edit_codes(tmp_path):
    rng = np.random.RandomState(0)
    codes = rng.randn(3000, 64).astype(np.float32)
    planted = rng.randn(64)
    planted /= np.linalg.norm(planted)
    np.save(tmp_path / "w.npy", codes)
    np.save(tmp_path / "s.npy", (codes @ planted + 0.1 * rng.randn(3000)).astype(np.float32))
    boundary = tmp_path / "smile_boundary.npy"
    fit = invoke("directions", "fit", "--codes", str(tmp_path / "w.npy"), "--scores", str(tmp_path / "s.npy"), "--out", str(boundary))
    assert fit.exit_code == 0, fit.output
    fitted = np.load(boundary)
    assert fitted.shape == (1, 64) and fitted.dtype == np.float32 and abs(float(fitted[0] @ planted)) > 0.95
    assert json.loads(boundary.with_suffix(".json").read_text())["validation_accuracy"] > 0.9
    assert invoke("convert", str(boundary), str(tmp_path / "smile.safetensors")).exit_code == 0

    pca = tmp_path / "pca.npz"
    fitted_pca = invoke("directions", "pca", "--preset", "tiny", "--samples", "2000", "--block", "1000", "--components", "8", "--out", str(pca))
    assert fitted_pca.exit_code == 0, fitted_pca.output
    assert invoke("convert", str(pca), str(tmp_path / "pca.safetensors")).exit_code == 0

    np.save(tmp_path / "codes.npy", codes[:1])
    for editor, directions, direction in (("interfacegan", "smile.safetensors", "smile"), ("ganspace", "pca.safetensors", "pc0")):
        result = invoke("edit", "--codes", str(tmp_path / "codes.npy"), "--preset", "tiny", "--editor", editor,
                        "--directions", str(tmp_path / directions), "--direction", direction, "--steps", "-2:2:3",
                        "--out", str(tmp_path / "edits"))
        assert result.exit_code == 0, result.output
        assert (tmp_path / "edits" / f"codes_{direction}.png").exists()


def test_bad_direction_files_are_one_line(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((10, 8), dtype=np.float32))
    np.save(tmp_path / "s.npy", np.zeros(10, dtype=np.float32))
    result = invoke("directions", "fit", "--codes", str(tmp_path / "w.npy"), "--scores", str(tmp_path / "s.npy"), "--out", str(tmp_path / "b.npy"))
    assert_one_line_error(result, "")
    assert not (tmp_path / "b.npy").exists()
    result = invoke("directions", "pca", "--preset", "tiny", "--samples", "100", "--components", "8", "--out", str(tmp_path / "p.npz"))
    assert_one_line_error(result, "samples")


class RednessAnalyzer(FaceAnalyzer):
    """Scores how red a face is; finds one face filling the image, landmarks on a grid."""

    name = "redness"

    def detect(self, image):
        height, width = image.shape[-2:]
        grid = torch.stack(torch.meshgrid(torch.linspace(8, width - 8, 17), torch.linspace(8, height - 8, 4), indexing="xy"), -1)
        return [DetectedFace((0.0, 0.0, float(width), float(height)), 1.0, grid.reshape(-1, 2)[:68])]

    attribute_names = property(lambda self: ("redness",))

    def attributes(self, images):
        return {"redness": images[:, 0].mean(dim=(1, 2))}


class RednessPlugin:
    @hookimpl
    def lswap_register_face_analyzers(self, register):
        register(RednessAnalyzer)


@pytest.fixture
def redness(tmp_path):
    register_plugin(RednessPlugin(), "redness")
    path = tmp_path / "redness.safetensors"
    save_component(RednessAnalyzer(), path)
    return path


def test_a_boundary_fitted_on_generated_faces_moves_the_attribute(tmp_path, redness):
    out = tmp_path / "redness.npy"
    result = invoke("directions", "fit", "--preset", "tiny", "--attribute", "redness", "--samples", "400", "--chunk", "100",
                    "--ratio", "0.1", "--analyzer", "redness", "--analyzer-weights", str(redness), "--out", str(out), "--device", "cpu")
    assert result.exit_code == 0, result.output
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["attribute"] == "redness" and record["samples"] == 400 and record["validation_accuracy"] > 0.8
    assert not (tmp_path / "redness.partial.npz").exists()
    generator = lswap_core.load_generator("stylegan2", preset="tiny")
    boundary = torch.from_numpy(np.load(out))[0]
    with torch.no_grad():
        w = generator.mapping(torch.randn(64, generator.z_dim, generator=torch.Generator().manual_seed(5)))
        redder = generator.synthesis(w + 2 * boundary)[:, 0].mean()
        paler = generator.synthesis(w - 2 * boundary)[:, 0].mean()
    assert redder > paler


def test_scoring_resumes_where_it_stopped(tmp_path, redness):
    from lswap_core import direction_samples

    generator = lswap_core.load_generator("stylegan2", preset="tiny")
    analyzer = RednessAnalyzer()
    plan = {"attribute": "redness"}
    whole = direction_samples.sample_and_score(generator, analyzer, "redness", samples=50, seed=3, chunk=20,
                                               partial=tmp_path / "a.partial.npz", plan=plan)
    calls = []
    original = direction_samples.score_faces

    def stop_at_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args)

    direction_samples.score_faces = stop_at_second
    try:
        with pytest.raises(KeyboardInterrupt):
            direction_samples.sample_and_score(generator, analyzer, "redness", samples=50, seed=3, chunk=20,
                                               partial=tmp_path / "b.partial.npz", plan=plan)
    finally:
        direction_samples.score_faces = original
    resumed = direction_samples.sample_and_score(generator, analyzer, "redness", samples=50, seed=3, chunk=20,
                                                 partial=tmp_path / "b.partial.npz", plan=plan)
    assert np.array_equal(whole[0], resumed[0]) and np.array_equal(whole[1], resumed[1])
    with pytest.raises(InputError, match="other settings"):
        direction_samples.sample_and_score(generator, analyzer, "redness", samples=50, seed=3, chunk=20,
                                           partial=tmp_path / "b.partial.npz", plan={"attribute": "age"})


def test_head_pose_from_landmarks_follows_the_turn():
    from lswap_core.face_attributes import POSE_MODEL, head_pose

    def landmarks(yaw: float, pitch: float) -> torch.Tensor:
        turn = torch.tensor([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]], dtype=torch.float64)
        nod = torch.tensor([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]], dtype=torch.float64)
        points = torch.zeros(68, 2, dtype=torch.float64)
        for index, point in POSE_MODEL:
            moved = turn @ nod @ torch.tensor(point, dtype=torch.float64)
            points[index] = torch.tensor([100 + 0.2 * moved[0], 100 - 0.2 * moved[1]])
        return points

    assert head_pose(landmarks(0.0, 0.0)) == pytest.approx((0.0, 0.0), abs=1e-9)
    yaw, pitch = head_pose(landmarks(math.radians(20), 0.0))
    assert yaw == pytest.approx(20.0, abs=1e-6) and pitch == pytest.approx(0.0, abs=1e-6)
    yaw, pitch = head_pose(landmarks(0.0, math.radians(-15)))
    assert pitch == pytest.approx(15.0, abs=1e-6) and yaw == pytest.approx(0.0, abs=1e-6)
