"""The InterFaceGAN editor and boundary fitting: conformance, parity with the official code, imports, refusals.

Parity values come from genforce/interfacegan's own ``utils/manipulator.py``
(``tests/fixtures/interfacegan_official.npz``; how it was recorded is in
``tests/fixtures/README.md``). Formula checks recompute the published rules here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
import torch
import typer
from lswap_plugins.interfacegan import fitting
from lswap_plugins.interfacegan.boundaries import boundary_name, project_boundary
from lswap_plugins.interfacegan.fitting import train_boundary
from typer.testing import CliRunner

import lswap_core
from lswap_core.checkpoints import save_component
from lswap_core.cli.directions_fit import fit_command
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError, IncompatibleLatentError, InputError, LswapError
from lswap_core.legacy_pickle import UnsafePickleError
from lswap_core.testing import ConverterConformance, EditorConformance

FIXTURE = Path(__file__).parent.parent / "fixtures" / "interfacegan_official.npz"
runner = CliRunner()


@pytest.fixture(scope="module")
def official() -> dict[str, np.ndarray]:
    with np.load(FIXTURE, allow_pickle=False) as data:
        return dict(data)


def unit(width: int, seed: int) -> np.ndarray:
    vector = np.random.RandomState(seed).randn(1, width)
    return vector / np.linalg.norm(vector)


def editor_with(vectors: np.ndarray, names: tuple[str, ...], **config):
    editor = lswap_core.load_editor("interfacegan", w_dim=vectors.shape[1], names=names, **config)
    editor.boundaries.copy_(torch.from_numpy(vectors).float())
    return editor


class TestInterFaceGANEditor(EditorConformance):
    component_name = "interfacegan"
    preset = "tiny"
    generator_name = "stylegan2"
    generator_preset = "tiny"


class TestInterFaceGANConverter(ConverterConformance):
    converter_name = "interfacegan"

    def make_sample(self, folder: Path) -> Path:
        path = folder / "stylegan_ffhq_smile_w_boundary.npy"
        np.save(path, unit(16, 0))
        return path


# --- parity with the official code -------------------------------------------------------------


@pytest.mark.parametrize("tag", ["a", "b", "c", "d"])
def test_train_boundary_equals_the_official_one(official, tag):
    ratio, split, seed, accuracy = official[f"fit_{tag}_args"]
    fit = train_boundary(official["fit_codes"], official["fit_scores"], ratio=ratio, split=split, rng=int(seed))
    expected = official[f"fit_{tag}_boundary"]
    assert fit.boundary.dtype == np.float32 and fit.boundary.shape == expected.shape
    np.testing.assert_allclose(fit.boundary, expected, rtol=0, atol=1e-6)
    assert abs(fit.validation_accuracy - accuracy) < 1e-6  # the official log prints 6 decimals


def test_train_boundary_drops_invalid_scores_as_the_official_one(official):
    ratio, split, seed, accuracy, invalid = official["fit_inv_args"]
    fit = train_boundary(
        official["fit_codes"],
        official["fit_inv_scores"],
        ratio=ratio,
        split=split,
        invalid_value=invalid,
        rng=int(seed),
    )
    np.testing.assert_allclose(fit.boundary, official["fit_inv_boundary"], rtol=0, atol=1e-6)
    assert abs(fit.validation_accuracy - accuracy) < 1e-6
    assert fit.samples == int((official["fit_inv_scores"] != invalid).sum())


def test_a_seeded_random_state_equals_the_seed(official):
    codes, scores = official["fit_codes"], official["fit_scores"]
    by_seed = train_boundary(codes, scores, ratio=0.1, rng=7).boundary
    by_state = train_boundary(codes, scores, ratio=0.1, rng=np.random.RandomState(7)).boundary
    assert np.array_equal(by_seed, by_state)


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_project_boundary_equals_the_official_one(official, count):
    vectors = torch.from_numpy(official["proj_vectors"])
    conditions = [vectors[i : i + 1] for i in range(1, count + 1)]
    projected = project_boundary(vectors[:1], *conditions)
    np.testing.assert_allclose(projected.numpy(), official[f"proj_{count}"], rtol=0, atol=1e-6)


def test_project_boundary_follows_the_published_closed_forms():
    p, c1, c2 = (torch.from_numpy(unit(24, seed)) for seed in (1, 2, 3))
    one = p - (p @ c1.T) * c1
    torch.testing.assert_close(project_boundary(p, c1), one / one.norm(), rtol=0, atol=1e-12)
    two = project_boundary(p, c1, c2)
    assert float((two @ c1.T).abs()) < 1e-7 and float((two @ c2.T).abs()) < 1e-7
    assert abs(float(two.norm()) - 1) < 1e-12


def test_linear_interpolate_on_w_codes_is_the_set_mode(official):
    boundary, code = official["interp_boundary"], official["interp_code_w"]
    editor = editor_with(boundary, ("attr",), mode="set")
    ws = torch.from_numpy(code).unsqueeze(1)  # (1, 1, D): a W code as one row
    for k, distance in enumerate(np.linspace(-3.0, 3.0, 7)):
        edited = editor.edit(ws, "attr", float(distance))
        np.testing.assert_allclose(edited[0, 0].numpy(), official["interp_w"][k], rtol=0, atol=1e-6)
        assert abs(float(edited[0, 0].double() @ torch.from_numpy(boundary[0])) - distance) < 1e-5


def test_linear_interpolate_on_w_plus_codes_is_the_additive_mode(official):
    boundary, code = official["interp_boundary"], official["interp_code_wp"]
    editor = editor_with(boundary, ("attr",))
    ws = torch.from_numpy(code)  # (1, L, D)
    for k, distance in enumerate(np.linspace(-3.0, 3.0, 7)):
        edited = editor.edit(ws, "attr", float(distance))
        np.testing.assert_allclose(edited[0].numpy(), official["interp_wp"][k], rtol=0, atol=1e-6)


# --- fitting finds a planted attribute ----------------------------------------------------------


def test_fitting_finds_an_attribute_planted_in_generator_codes():
    generator = lswap_core.load_generator("stylegan2", preset="tiny", init_seed=1)
    with torch.no_grad():
        codes = generator.mapping(torch.randn(4000, generator.z_dim, generator=torch.Generator().manual_seed(0)))[
            :, 0
        ].numpy()
    rs = np.random.RandomState(5)
    planted = unit(generator.w_dim, 5)[0]
    # The attribute is a linear factor of W: t moves codes along `planted`, and the score measures t (with noise).
    factor = rs.randn(len(codes))
    codes = (codes + np.outer(2 * codes.std(0).max() * factor, planted)).astype(np.float32)
    fit = train_boundary(codes, factor + 0.05 * rs.randn(len(codes)))  # the official top/bottom 2 %
    assert fit.validation_accuracy == 1.0
    # The SVM normal leans towards the codes' other strong axes (max margin in anisotropic W), so
    # not to 1: 0.952 here, where the planted direction alone scores 0.93-0.98 over seeds.
    assert float(fit.boundary[0] @ planted) > 0.93


def test_fitting_finds_a_planted_direction_in_isotropic_codes():
    rs = np.random.RandomState(0)
    codes = rs.randn(3000, 16).astype(np.float32)
    planted = unit(16, 9)[0]
    fit = train_boundary(codes, codes @ planted, ratio=0.05)
    assert float(fit.boundary[0] @ planted) > 0.99
    assert fit.validation_accuracy == 1.0


# --- importers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_official_npy_boundary_imports_under_its_attribute_name(tmp_path, dtype):
    vector = unit(64, 3).astype(dtype)
    source = tmp_path / "stylegan_ffhq_smile_w_boundary.npy"
    np.save(source, vector)
    export = convert(source, tmp_path / "smile.safetensors")
    editor = lswap_core.load_editor("interfacegan", weights=export)
    assert editor.directions == ("smile",) and editor.w_dim == 64
    np.testing.assert_allclose(editor.boundaries.numpy(), vector, atol=1e-7)
    editor.check_generator(lswap_core.load_generator("stylegan2", preset="tiny"))


def test_a_folder_of_pti_and_e4e_directions_imports_as_one_editor(tmp_path):
    folder = tmp_path / "interfacegan_directions"
    folder.mkdir()
    vectors = {
        name: torch.from_numpy(unit(512, seed)).float() for seed, name in enumerate(("age", "rotation", "smile"))
    }
    for name, vector in vectors.items():
        torch.save(vector, folder / f"{name}.pt")  # as PTI ships them: (1, 512) float32
    torch.save(vectors["rotation"].unsqueeze(1).repeat(1, 18, 1), tmp_path / "pose.pt")  # e4e's copy, on 18 rows
    assert type(find_converter(folder)).name == "interfacegan"
    editor = lswap_core.load_editor("interfacegan", weights=convert(folder, tmp_path / "dirs.safetensors"))
    assert editor.directions == ("age", "rotation", "smile")
    for index, vector in enumerate(vectors.values()):
        assert torch.equal(editor.boundaries[index], vector[0])
    pose = lswap_core.load_editor("interfacegan", weights=convert(tmp_path / "pose.pt", tmp_path / "pose.safetensors"))
    assert pose.directions == ("pose",) and torch.equal(pose.boundaries[0], vectors["rotation"][0])
    wrong = lswap_core.load_generator("stylegan2", preset="tiny")
    with pytest.raises(IncompatibleLatentError, match="512"):
        editor.check_generator(wrong)


def test_names_come_from_the_official_file_names():
    assert boundary_name(Path("stylegan_ffhq_smile_w_boundary.npy")) == "smile"
    assert boundary_name(Path("stylegan_ffhq_age_c_gender_boundary.npy")) == "age_c_gender"
    assert boundary_name(Path("rotation.pt")) == "rotation"
    assert boundary_name(Path("glasses_boundary.npy")) == "glasses"


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_direction_file_calling_os_system_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    source = tmp_path / "smile.pt"
    torch.save({"direction": _Exploit(marker)}, source)
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        convert(source, tmp_path / "evil.safetensors", format="interfacegan")
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


def test_a_pickled_npy_is_refused(tmp_path):
    source = tmp_path / "smile.npy"
    np.save(source, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="not a plain .npy"):
        convert(source, tmp_path / "out.safetensors", format="interfacegan")


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.ones((2, 8)) / 4, r"shape \(2, 8\), not a \(1, D\) boundary"),
        (np.ones((1, 8)), r"norm 2.828, not a unit boundary"),
        (np.full((1, 8), np.nan), "non-finite"),
        (np.arange(8).reshape(1, 8), "int64 array, not a float boundary"),
    ],
)
def test_a_file_that_is_no_unit_boundary_says_what_it_is(tmp_path, array, fragment):
    source = tmp_path / "bad.npy"
    np.save(source, array)
    with pytest.raises(CheckpointError, match=fragment) as caught:
        convert(source, tmp_path / "out.safetensors", format="interfacegan")
    assert "\n" not in str(caught.value)


def test_a_z_space_boundary_is_refused(tmp_path):
    source = tmp_path / "stylegan_ffhq_smile_boundary.npy"
    np.save(source, unit(16, 0))
    with pytest.raises(CheckpointError, match="boundary of Z"):
        convert(source, tmp_path / "out.safetensors")


# --- editing rules and refusals ----------------------------------------------------------------


def test_edits_follow_the_published_rules_on_chosen_rows():
    vectors = np.concatenate([unit(8, 1), unit(8, 2)])
    ws = torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(0))
    n = torch.from_numpy(vectors[1]).float()
    additive = editor_with(vectors, ("a", "b")).edit(ws, "b", 1.5, layers=[1, 3])
    expected = ws.clone()
    expected[:, [1, 3]] += 1.5 * n
    torch.testing.assert_close(additive, expected)
    placed = editor_with(vectors, ("a", "b"), mode="set").edit(ws, "b", -2.0, layers=[0, 4])
    torch.testing.assert_close(placed[:, [0, 4]] @ n, torch.full((3, 2), -2.0))
    torch.testing.assert_close(placed[:, 1:4], ws[:, 1:4])


def test_conditioned_edits_keep_the_conditions():
    vectors = np.concatenate([unit(16, seed) for seed in (1, 2, 3)])
    plain = editor_with(vectors, ("smile", "age", "gender"))
    conditioned = editor_with(vectors, ("smile", "age", "gender"), condition_on=("age", "gender"))
    ws = torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(1))
    age, gender = (torch.from_numpy(vectors[i]).float() for i in (1, 2))
    moved = conditioned.edit(ws, "smile", 3.0) - ws
    assert float((moved @ age).abs().max()) < 1e-5 and float((moved @ gender).abs().max()) < 1e-5
    expected = project_boundary(*(torch.from_numpy(vectors[i : i + 1]) for i in range(3)))[0].float()
    torch.testing.assert_close(plain.direction_vector("smile", ["age", "gender"]), expected)
    torch.testing.assert_close(conditioned.direction_vector("smile"), expected)
    torch.testing.assert_close(conditioned.direction_vector("age"), plain.direction_vector("age", ["gender"]))


def test_the_mode_and_conditions_survive_an_export(tmp_path):
    editor = lswap_core.load_editor("interfacegan", preset="tiny", mode="set", condition_on=["age"])
    loaded = lswap_core.load_editor("interfacegan", weights=save_component(editor, tmp_path / "e.safetensors"))
    assert loaded.config == editor.config


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (
            lambda e, ws: e.edit(ws, "glasses", 1.0),
            InputError,
            "no direction 'glasses'; choose one of: age, smile, rotation",
        ),
        (lambda e, ws: e.edit(ws, "smile", float("nan")), InputError, "strength must be a finite number"),
        (lambda e, ws: e.edit(ws, "smile", 1.0, layers=[0, 10]), InputError, r"layers \[10\] are outside 0..9"),
        (lambda e, ws: e.edit(ws, "smile", 1.0, layers=[-1]), InputError, r"layers \[-1\] are outside"),
        (lambda e, ws: e.edit(ws[..., :32], "smile", 1.0), IncompatibleLatentError, r"\(N, rows, 64\)"),
    ],
)
def test_bad_edits_are_one_line_errors(call, error, fragment):
    editor = lswap_core.load_editor("interfacegan", preset="tiny")
    ws = torch.zeros(1, 10, 64)
    with pytest.raises(error, match=fragment) as caught:
        call(editor, ws)
    assert "\n" not in str(caught.value)


def test_unknown_conditions_are_a_config_error():
    with pytest.raises(LswapError, match="condition_on names unknown directions"):
        lswap_core.load_editor("interfacegan", preset="tiny", condition_on=["glasses"])


def test_too_few_samples_for_the_ratio_is_a_one_line_error():
    codes = np.random.RandomState(0).randn(50, 8)
    with pytest.raises(InputError, match="50 usable samples with ratio 0.02 and split 0.7 leave 1 per class") as caught:
        train_boundary(codes, codes[:, 0])
    assert "\n" not in str(caught.value)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sklearn", None)
    with pytest.raises(fitting.MissingExtraError, match=r"pip install 'lswap\[svm\]'"):
        fitting.linear_svc()


# --- `lswap directions fit` --------------------------------------------------------------------


def directions_app() -> typer.Typer:
    app = typer.Typer()
    directions = typer.Typer()
    directions.command("fit")(fit_command)

    @app.callback()
    def root(verbose: Annotated[bool, typer.Option()] = False) -> None:
        """Stand-in root."""

    app.add_typer(directions, name="directions")
    return app


def test_directions_fit_writes_the_official_format_and_its_record(tmp_path, official):
    np.save(tmp_path / "w.npy", official["fit_codes"])
    np.save(tmp_path / "s.npy", official["fit_scores"])
    out = tmp_path / "smile_boundary.npy"
    args = [
        "directions",
        "fit",
        "--codes",
        str(tmp_path / "w.npy"),
        "--scores",
        str(tmp_path / "s.npy"),
        "--out",
        str(out),
    ]
    result = runner.invoke(directions_app(), [*args, "--ratio", "0.1", "--seed", "7"])
    assert result.exit_code == 0, result.output
    boundary = np.load(out, allow_pickle=False)
    assert boundary.dtype == np.float32 and boundary.shape == (1, 32)
    np.testing.assert_allclose(boundary, official["fit_b_boundary"], rtol=0, atol=1e-6)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["name"] == "smile" and record["samples"] == 600 and record["ratio"] == 0.1 and record["seed"] == 7
    assert abs(record["validation_accuracy"] - official["fit_b_args"][3]) < 1e-6
    # The written file imports as an editor direction.
    editor = lswap_core.load_editor("interfacegan", weights=convert(out, tmp_path / "smile.safetensors"))
    assert editor.directions == ("smile",)
    again = runner.invoke(directions_app(), args)
    assert again.exit_code != 0 and isinstance(again.exception, InputError) and "already exists" in str(again.exception)


def test_directions_fit_refuses_too_few_samples_in_one_line(tmp_path):
    np.save(tmp_path / "w.npy", np.random.RandomState(0).randn(40, 8).astype(np.float32))
    np.save(tmp_path / "s.npy", np.arange(40.0))
    args = [
        "directions",
        "fit",
        "--codes",
        str(tmp_path / "w.npy"),
        "--scores",
        str(tmp_path / "s.npy"),
        "--out",
        str(tmp_path / "b.npy"),
    ]
    result = runner.invoke(directions_app(), args)
    assert isinstance(result.exception, InputError) and "too few" in str(result.exception)
    assert not (tmp_path / "b.npy").exists() and not (tmp_path / "b.json").exists()


def test_lswap_convert_refuses_a_non_unit_boundary_in_one_line(tmp_path):
    from lswap_core.cli import app

    source = tmp_path / "smile.npy"
    np.save(source, 3 * unit(16, 0))
    result = runner.invoke(app, ["convert", str(source), str(tmp_path / "out.safetensors")])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "norm 3, not a unit boundary" in lines[0], result.stderr
    assert not (tmp_path / "out.safetensors").exists()
