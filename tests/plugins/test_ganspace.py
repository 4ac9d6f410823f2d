"""The ganspace editor and `directions pca`: conformance, the PCA against an exact
eigendecomposition of the same samples, PTI's coordinate-setting edit against its
formula, importers of the official files, refusals."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from lswap_plugins.ganspace.config import FFHQ_EDITS
from lswap_plugins.ganspace.ipca import IncrementalPCA
from lswap_plugins.ganspace.pca import FIELDS, SamplingPlan, fit_pca, w_samples, z_block
from typer.testing import CliRunner

import lswap_core
from lswap_core.cli.directions_pca import pca_command
from lswap_core.convert import convert
from lswap_core.errors import CheckpointError, IncompatibleLatentError, InputError, LswapError
from lswap_core.legacy_pickle import UnsafePickleError
from lswap_core.testing import ConverterConformance, EditorConformance, seeded

N, K, BLOCK = 6000, 16, 1000  # tiny StyleGAN2: W is 64 wide; chunks of 2000


@functools.lru_cache(maxsize=1)
def tiny_generator():
    return lswap_core.load_generator("stylegan2", preset="tiny", init_seed=1).requires_grad_(False)


@functools.lru_cache(maxsize=1)
def tiny_pca():
    return fit_pca(tiny_generator(), N, K, seed=0, batch=1000, block=BLOCK)


def random_pca(k: int = 80, d: int = 512, seed: int = 0) -> dict[str, torch.Tensor]:
    """A PCA in PTI's layout: orthonormal rows, decreasing stds."""
    rng = seeded(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, k, generator=rng, dtype=torch.float64))
    std = (torch.rand(k, generator=rng, dtype=torch.float64) * 2 + 0.5).sort(descending=True).values
    return {"mean": torch.randn(1, d, generator=rng).float(), "comp": basis.T.reshape(k, 1, d).float().contiguous(), "std": std.float()}


def write_npz(path: Path, pca: dict[str, torch.Tensor]) -> Path:
    k = pca["comp"].shape[0]
    arrays = {key: np.zeros((k,), np.float32) for key in FIELDS}
    arrays.update(lat_comp=pca["comp"].numpy(), lat_mean=pca["mean"].numpy(), lat_stdev=pca["std"].numpy())
    np.savez_compressed(path, **arrays)
    return path


def one_line(error: BaseException) -> str:
    assert isinstance(error, LswapError), repr(error)
    assert "\n" not in str(error)
    return str(error)


class TestGanSpaceConformance(EditorConformance):
    component_name = "ganspace"
    preset = "tiny"
    generator_name = "stylegan2"
    generator_preset = "tiny"


class TestNpzConverter(ConverterConformance):
    converter_name = "ganspace"

    def make_sample(self, folder: Path) -> Path:
        return write_npz(folder / "pca.npz", random_pca(16, 64))


class TestPTIConverter(ConverterConformance):
    converter_name = "ganspace-pti"

    def make_sample(self, folder: Path) -> Path:
        torch.save(random_pca(), folder / "ffhq_pca.pt")
        return folder / "ffhq_pca.pt"


# --- the PCA -------------------------------------------------------------------------------


def test_samples_follow_the_official_seeding():
    generator, plan = tiny_generator(), SamplingPlan(N, K, 0, BLOCK)
    global_rng = np.random.RandomState(1)  # decomposition.py: np.random.seed(config.seed or SEED_SAMPLING)
    first, second = (int(global_rng.randint(np.iinfo(np.int32).max)) for _ in range(2))
    z = np.random.RandomState(second).standard_normal(generator.z_dim * BLOCK).reshape(BLOCK, -1).astype(np.float32)
    with torch.no_grad():
        expected = generator.mapping(torch.from_numpy(z[:5]), truncation_psi=1.0)[:, 0].numpy()
    np.testing.assert_allclose(w_samples(generator, plan, BLOCK, BLOCK + 5, batch=2), expected, atol=1e-5, rtol=1e-5)  # batched rounding
    assert plan.block_seeds()[:2] == [first, second]
    np.testing.assert_array_equal(z_block(first, 3, 4), np.random.RandomState(first).standard_normal(12).reshape(3, 4).astype(np.float32))


def test_pca_matches_an_exact_eigendecomposition_of_the_same_samples(record_property):
    result, plan = tiny_pca(), SamplingPlan(N, K, 0, BLOCK)
    samples = w_samples(tiny_generator(), plan, 0, plan.seen, batch=1000).astype(np.float64)
    mean = samples.mean(axis=0)
    centred = samples - mean
    values, vectors = np.linalg.eigh(centred.T @ centred / (len(samples) - 1))  # exact, float64
    values, vectors = values[::-1][: K + 1], vectors[:, ::-1][:, : K + 1].T
    assert {key: result.arrays[key].dtype for key in FIELDS} == dict.fromkeys(FIELDS, np.float32)
    assert result.arrays["lat_comp"].shape == (K, 1, 64) and result.arrays["lat_mean"].shape == (1, 64)
    mean_error = np.abs(result.mean - mean).max()
    assert mean_error < 1e-5
    np.testing.assert_allclose(np.linalg.norm(result.components, axis=1), 1.0, atol=1e-6)
    gaps = np.minimum(
        np.abs(values[:K] - np.r_[np.inf, values[: K - 1]]), np.abs(values[:K] - values[1 : K + 1])
    ) / values[:K]
    # IPCA truncates to K components at every chunk, which bends the last few kept ones (scikit-learn's
    # IncrementalPCA the same, see below): compare the well-separated ones of the leading half.
    separated = np.flatnonzero(gaps[: K // 2] > 0.01)
    assert len(separated) >= K // 4
    cos = np.abs((result.components.astype(np.float64) * vectors[:K]).sum(axis=1))[separated]
    std_error = np.abs(result.arrays["act_stdev"].astype(np.float64)[separated] / np.sqrt(values[separated]) - 1)
    record_property("pca_parity", f"mean {mean_error:.2e}, min |cos| {cos.min():.7f}, max std rel {std_error.max():.2e}")
    assert cos.min() > 0.999
    assert std_error.max() < 1e-4
    ratio = result.arrays["var_ratio"].astype(np.float64)
    exact_ratio = values[:K] * (len(samples) - 1) / (centred**2).sum()
    np.testing.assert_allclose(ratio[separated], exact_ratio[separated], rtol=1e-4)


def test_lat_stdev_is_the_std_of_fresh_codes_along_each_component():
    result, plan = tiny_pca(), SamplingPlan(N, K, 0, BLOCK)
    seed = plan.block_seeds()[-1]  # the draw after the sampled blocks
    z = z_block(seed, 5000, tiny_generator().z_dim)
    with torch.no_grad():
        fresh = tiny_generator().mapping(torch.from_numpy(z), truncation_psi=1.0)[:, 0].double().numpy()
    expected = (result.components.astype(np.float64) @ fresh.T).std(axis=1)
    np.testing.assert_allclose(result.arrays["lat_stdev"], expected, rtol=1e-5)


def test_incremental_pca_agrees_with_scikit_learn():
    sklearn = pytest.importorskip("sklearn.decomposition")
    rng = np.random.RandomState(0)
    data = rng.standard_normal((900, 12)) @ rng.standard_normal((12, 12)) + 3.0
    ours, theirs = IncrementalPCA(5), sklearn.IncrementalPCA(5)
    for start in range(0, 900, 300):
        ours.partial_fit(data[start : start + 300])
        theirs.partial_fit(data[start : start + 300])
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-10)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, atol=1e-12)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_, rtol=1e-10)


def test_the_fit_agrees_with_scikit_learn_on_the_same_chunks():
    sklearn = pytest.importorskip("sklearn.decomposition")
    plan = SamplingPlan(N, K, 0, BLOCK)
    samples = w_samples(tiny_generator(), plan, 0, plan.seen, batch=1000)
    reference = sklearn.IncrementalPCA(K)
    for start in plan.chunk_starts:
        reference.partial_fit(samples[start : start + plan.chunk])
    result = tiny_pca()
    cos = np.abs((result.components.astype(np.float64) * reference.components_).sum(axis=1))
    assert np.abs(cos - 1).max() < 1e-6  # every component, the last ones too
    np.testing.assert_allclose(result.arrays["act_stdev"], np.sqrt(reference.explained_variance_), rtol=1e-5)
    np.testing.assert_allclose(result.mean, reference.mean_, atol=1e-6)


def test_the_batch_size_does_not_change_the_samples():
    first = fit_pca(tiny_generator(), 2000, 8, batch=2000, block=1000)
    second = fit_pca(tiny_generator(), 2000, 8, batch=333, block=1000)
    for key in FIELDS:
        np.testing.assert_allclose(first.arrays[key], second.arrays[key], atol=1e-5, rtol=1e-5)


def test_an_interrupted_fit_continues_from_its_saved_state(tmp_path):
    state = tmp_path / "pca.partial.npz"

    def stop_after_first_chunk(done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_pca(tiny_generator(), N, K, block=BLOCK, progress=stop_after_first_chunk, state_path=state)
    assert state.exists()
    with pytest.raises(InputError, match="other settings"):
        fit_pca(tiny_generator(), N, K, seed=3, block=BLOCK, state_path=state)
    resumed = fit_pca(tiny_generator(), N, K, block=BLOCK, state_path=state)
    assert not state.exists()
    for key in FIELDS:
        np.testing.assert_array_equal(resumed.arrays[key], tiny_pca().arrays[key])


# --- edits ---------------------------------------------------------------------------------


def pti_editor(tmp_path: Path, mode: str = "set", seed: int = 0):
    torch.save(random_pca(seed=seed), tmp_path / "ffhq_pca.pt")
    export = convert(tmp_path / "ffhq_pca.pt", tmp_path / "ganspace.safetensors")
    return lswap_core.load_editor("ganspace", weights=export, mode=mode)


def test_pti_edit_sets_the_coordinate_of_row_0_and_moves_only_its_rows(tmp_path):
    editor = pti_editor(tmp_path)
    assert set(FFHQ_EDITS) <= set(editor.directions)
    ws = torch.randn(2, 18, 512, generator=seeded(3)) + torch.randn(1, 1, 512, generator=seeded(4))
    edited = editor.edit(ws, "eye_openness", 1.0)  # PTI: (54, 7, 8, 5)
    comp, std, mean = editor.components[54], editor.stdev[54], editor.mean
    coord = ((ws - mean) @ comp) / std  # (N, 18), in stds
    new = ((edited - mean) @ comp) / std
    torch.testing.assert_close(new[:, 7], 5.0 - coord[:, 0] + coord[:, 7], atol=1e-5, rtol=0)
    assert torch.equal(edited[:, :7], ws[:, :7]) and torch.equal(edited[:, 8:], ws[:, 8:])
    # The formula of PTI's get_delta, written out (float64 reference).
    c0 = ((ws[:, 0].double() - mean.double()) * comp.double()).sum(dim=1) / std.double()
    delta = (5.0 - c0)[:, None] * comp.double() * std.double()
    torch.testing.assert_close(edited[:, 7].double(), ws[:, 7].double() + delta, atol=1e-6, rtol=0)
    smile = editor.edit(ws, "smile", 1.0)  # (46, 4, 5, -6)
    assert torch.equal(smile[:, :4], ws[:, :4]) and torch.equal(smile[:, 5:], ws[:, 5:])
    beard = editor.edit(ws, "trimmed_beard", 1.0)  # (58, 7, 9, 7): rows 7 and 8
    torch.testing.assert_close(beard[:, 8] - ws[:, 8], beard[:, 7] - ws[:, 7])
    assert torch.equal(beard[:, 9:], ws[:, 9:])


def test_set_mode_on_a_component_sets_row_0_to_the_strength(tmp_path):
    editor = pti_editor(tmp_path)
    ws = torch.randn(3, 18, 512, generator=seeded(5))
    edited = editor.edit(ws, "pc3", -2.0, layers=[0, 1, 2])
    torch.testing.assert_close(editor.coordinates(edited)[:, 0, 3], torch.full((3,), -2.0), atol=1e-5, rtol=0)
    assert torch.equal(edited[:, 3:], ws[:, 3:])


def test_additive_edit_is_ganspace_formula(tmp_path):
    editor = pti_editor(tmp_path, mode="additive")
    ws = torch.randn(2, 18, 512, generator=seeded(6))
    edited = editor.edit(ws, "pc7", 2.5, layers=range(4, 9))  # E(v_7, 4-8)
    delta = editor.components[7] * editor.stdev[7] * 2.5
    torch.testing.assert_close(edited[:, 4:9], ws[:, 4:9] + delta, atol=1e-6, rtol=0)
    assert torch.equal(edited[:, :4], ws[:, :4]) and torch.equal(edited[:, 9:], ws[:, 9:])


# --- importers -----------------------------------------------------------------------------


def test_fitted_npz_round_trips_through_an_export(tmp_path):
    path = tiny_pca().save(tmp_path / "pca.npz")
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(FIELDS)
    export = convert(path, tmp_path / "pca.safetensors")
    editor = lswap_core.load_editor("ganspace", weights=export)
    assert editor.directions == tuple(f"pc{i}" for i in range(K))
    np.testing.assert_array_equal(editor.components.numpy(), tiny_pca().components)
    np.testing.assert_array_equal(editor.stdev.numpy(), tiny_pca().arrays["lat_stdev"])
    editor.check_generator(tiny_generator())


def test_official_ffhq_npz_gets_the_named_edits(tmp_path):
    pca = random_pca()
    export = convert(write_npz(tmp_path / "stylegan2-ffhq_style_ipca_c80_n1000000_w.npz", pca), tmp_path / "e.safetensors")
    editor = lswap_core.load_editor("ganspace", weights=export)
    assert editor.directions[-3:] == tuple(FFHQ_EDITS)
    torch.testing.assert_close(editor.components, pca["comp"][:, 0])
    torch.testing.assert_close(editor.mean, pca["mean"][0])
    other = convert(write_npz(tmp_path / "other.npz", pca), tmp_path / "o.safetensors")
    assert "smile" not in lswap_core.load_editor("ganspace", weights=other).directions


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_hostile_pca_file_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({**random_pca(), "payload": _Exploit(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UnsafePickleError):
        convert(tmp_path / "evil.pt", tmp_path / "evil.safetensors", format="ganspace-pti")
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


def test_files_that_are_not_a_pca_are_refused(tmp_path):
    pca = random_pca(16, 64)
    pca["comp"] = pca["comp"] * 2
    with pytest.raises(CheckpointError, match="norms"):
        convert(write_npz(tmp_path / "bad.npz", pca), tmp_path / "b.safetensors")
    torch.save({"mean": torch.zeros(1, 64), "comp": torch.zeros(8, 1, 32), "std": torch.ones(8)}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="mean of 64"):
        convert(tmp_path / "w.pt", tmp_path / "w.safetensors", format="ganspace-pti")


# --- bad input -----------------------------------------------------------------------------


def test_bad_edits_are_one_line_errors():
    editor = lswap_core.load_editor("ganspace", preset="tiny")
    ws = torch.zeros(1, 10, 64)
    with pytest.raises(InputError) as unknown:
        editor.edit(ws, "smile", 1.0)
    assert "pc0" in one_line(unknown.value) and "pc15" in str(unknown.value)
    with pytest.raises(IncompatibleLatentError) as wide:
        editor.edit(torch.zeros(1, 10, 65), "pc0", 1.0)
    one_line(wide.value)
    with pytest.raises(InputError, match="finite") as nan:
        editor.edit(ws, "pc0", float("nan"))
    one_line(nan.value)
    for rows in ([10], [-1], []):
        with pytest.raises(InputError) as outside:
            editor.edit(ws, "pc0", 1.0, layers=rows)
        one_line(outside.value)
    with pytest.raises(LswapError, match="component 58"):
        lswap_core.load_editor("ganspace", preset="tiny", named_edits="ffhq")  # 16 components: no pc58


def test_named_edits_refuse_codes_with_too_few_rows(tmp_path):
    with pytest.raises(InputError, match="rows 7-8") as error:
        pti_editor(tmp_path).edit(torch.zeros(1, 8, 512), "trimmed_beard", 1.0)
    one_line(error.value)


# --- command line --------------------------------------------------------------------------


def pca_app() -> typer.Typer:
    app = typer.Typer()
    app.command("pca")(pca_command)
    app.command("noop", hidden=True)(lambda: None)  # two commands: `pca` stays a subcommand
    return app


def test_pca_command_writes_the_official_npz_and_refuses_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.setenv("LSWAP_NO_PROGRESS", "1")
    out = tmp_path / "pca.npz"
    args = ["pca", "--preset", "tiny", "--samples", "2000", "--components", "8", "--block", "1000", "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(pca_app(), args)
    assert result.exit_code == 0, result.output
    expected = fit_pca(lswap_core.load_generator("stylegan2", preset="tiny"), 2000, 8, block=1000)  # init seed 0, as the command
    with np.load(out, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(FIELDS)
        np.testing.assert_allclose(data["lat_comp"], expected.arrays["lat_comp"], atol=1e-6)
    again = CliRunner().invoke(pca_app(), args)
    assert "already exists" in one_line(again.exception)
    few = CliRunner().invoke(pca_app(), [*args[:4], "10", *args[5:], "--overwrite"])
    assert "fewer than one block" in one_line(few.exception)
