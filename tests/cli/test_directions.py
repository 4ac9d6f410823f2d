"""``lswap directions fit|pca`` through the real application, and their directions used by ``lswap edit``."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from lswap_core.cli import app
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
