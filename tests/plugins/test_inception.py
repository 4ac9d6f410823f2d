"""The FID Inception-v3 against pytorch-fid's numbers, the official file's layout, the asset and its download.

The fixture ``inception/pytorch_fid.safetensors`` holds inputs and pytorch-fid 0.3.0's pool3 features
for a network with keyed random weights (`keyed`), which the tests rebuild from the official key
names and shapes in ``inception/pytorch_fid_keys.json``; ``tests/fixtures/README.md`` says how both
were made.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import pickle
import zlib
from pathlib import Path

import pytest
import torch

import lswap_core
from lswap_core.testing import FeatureNetworkConformance
from lswap_plugins.inception import FEATURES, FIDInception, load_fid_inception
from lswap_plugins.inception import plugin as inception_plugin
from lswap_plugins.inception.assets import PYTORCH_FID_WEIGHTS, check_hash_prefix, inception_assets
from lswap_plugins.inception.convert import FIDInceptionConverter

from lswap_core import hookimpl
from lswap_core.checkpoints import load_state_strict, save_export, tensors_sha256
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError, DownloadError, InputError
from lswap_core.legacy_pickle import UnsafePickleError
from lswap_core.plugins import register_plugin
from lswap_core.weights import fetch
from tests.golden import FIXTURES, load_golden
from tests.http_server import running_file_server

OFFICIAL = PYTORCH_FID_WEIGHTS.name
TOLERANCE = 1e-5  # absolute, on features of order 1-15


def keyed(key: str, shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """The fixture's weights: drawn from a generator seeded with crc32 of the official key name."""
    if dtype == "int64":  # batch norm's num_batches_tracked
        return torch.zeros(shape, dtype=torch.int64)
    rng = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if key.endswith(".running_var"):
        return 0.5 + torch.rand(shape, generator=rng)
    x = torch.randn(shape, generator=rng)
    if key.endswith(".conv.weight"):
        return x * math.sqrt(2.0 / math.prod(shape[1:]))
    if key.endswith(".bn.weight"):
        return 1 + 0.1 * x
    if key.endswith((".bn.bias", ".running_mean")):
        return 0.1 * x
    if key == "fc.weight":
        return x * math.sqrt(1.0 / shape[1])
    if key == "fc.bias":
        return 0.01 * x
    raise KeyError(key)


@functools.cache
def official_layout() -> tuple[tuple[str, tuple[int, ...], str], ...]:
    """pytorch-fid's state dict as its module has it: (key, shape, dtype), fc and counters included."""
    rows = json.loads((FIXTURES / "inception" / "pytorch_fid_keys.json").read_text())
    return tuple((key, tuple(shape), dtype) for key, shape, dtype in rows)


@functools.cache
def official_state() -> dict[str, torch.Tensor]:
    return {key: keyed(key, shape, dtype) for key, shape, dtype in official_layout()}


def pool3_state() -> dict[str, torch.Tensor]:
    """The official tensors lswap's network holds: all but the classifier and the counters."""
    return {
        k: v for k, v in official_state().items() if not k.startswith("fc.") and not k.endswith("num_batches_tracked")
    }


@pytest.fixture(scope="module")
def golden():
    return load_golden("inception/pytorch_fid")


@pytest.fixture(scope="module")
def keyed_model(golden) -> FIDInception:
    assert tensors_sha256(official_state()) == golden.meta["state_sha256"], (
        "the recipe no longer rebuilds the fixture's weights"
    )
    model = FIDInception()
    load_state_strict(model, pool3_state(), source="keyed pytorch-fid weights")
    return model


def signed(golden, name: str) -> torch.Tensor:
    """The fixture's uint8 images in lswap's convention, [-1, 1]."""
    return golden.inputs[name].float() / 127.5 - 1


def saved(obj: object, *, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


# -- parity with pytorch-fid -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["small", "square", "wide"])
def test_features_match_pytorch_fid(golden, keyed_model, name):
    features = keyed_model.features(signed(golden, name))
    assert features.dtype == torch.float32 and features.shape == (golden.inputs[name].shape[0], FEATURES)
    # pytorch-fid's default call: images in [0, 1], resized, then mapped to [-1, 1]
    torch.testing.assert_close(features, golden.outputs[name], rtol=0, atol=TOLERANCE)
    # the same network input as lswap's: [-1, 1] resized (normalize_input=False)
    torch.testing.assert_close(features, golden.outputs[f"{name}_signed"], rtol=0, atol=TOLERANCE)


def test_official_layout_is_the_network_plus_classifier_and_counters():
    names = [key for key, _, _ in official_layout()]
    assert names[:2] == ["Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.weight"] and names[-2:] == [
        "fc.weight",
        "fc.bias",
    ]
    assert list(FIDInception().state_dict()) == [key for key in names if key in pool3_state()]


def test_random_networks_are_seeded_sane_and_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = lswap_core.load_feature_network("inception"), lswap_core.load_feature_network("inception")
    c = lswap_core.load_feature_network("inception", init_seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.Mixed_7c.branch_pool.conv.weight, b.Mixed_7c.branch_pool.conv.weight)
    assert not torch.equal(a.Conv2d_1a_3x3.conv.weight, c.Conv2d_1a_3x3.conv.weight)
    assert not any(p.requires_grad for p in a.parameters())
    images = torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(0)) * 2 - 1
    features = a.features(images)
    assert features.shape == (2, FEATURES) and bool(torch.isfinite(features).all())
    assert 0.05 < features.mean().item() < 20  # neither vanishing nor exploding through 94 layers


def test_bad_inputs_are_refused_in_one_line():
    model = FIDInception()
    with pytest.raises(InputError, match=r"\(N, 3, H, W\) RGB images, got \(3, 64, 64\)"):
        model.features(torch.zeros(3, 64, 64))
    with pytest.raises(InputError, match=r"got \(1, 1, 64, 64\)"):
        model.features(torch.zeros(1, 1, 64, 64))


# -- loading -------------------------------------------------------------------------------------------


def test_official_weights_that_are_not_fetched_say_how_to_fetch_them(tmp_path, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match="run `lswap weights fetch inception`"):
        load_fid_inception()


def test_the_loader_refuses_exports_with_missing_extra_or_other_tensors(tmp_path):
    tensors = dict(FIDInception().state_dict())
    del tensors["Mixed_7c.branch_pool.bn.running_var"]
    tensors["fc.weight"] = torch.zeros(4, 8)
    export = save_export(tmp_path / "bad.safetensors", kind="feature_network", name="inception", config={}, tensors=tensors)
    with pytest.raises(
        CheckpointError,
        match=r"does not fit FIDInception \(missing: Mixed_7c.branch_pool.bn.running_var; unexpected: fc.weight",
    ):
        load_fid_inception(export)
    other = save_export(tmp_path / "other.safetensors", kind="perceptual", name="vgg16-nvidia", config={}, tensors={})
    with pytest.raises(CheckpointError, match="'vgg16-nvidia', not the feature network 'inception'"):
        load_fid_inception(other)


@pytest.mark.parametrize(("layout", "legacy"), [("official", True), ("bare", False)])
def test_official_file_converts_and_loads(tmp_path, golden, layout, legacy):
    """The file as pytorch-fid's module saves it (classifier and counters included; pre-1.6 format), and
    as a bare pool3 state dict in today's format."""
    source = tmp_path / OFFICIAL
    source.write_bytes(saved(official_state() if layout == "official" else pool3_state(), legacy=legacy))
    assert find_converter(source).name == "fid-inception"
    model = load_fid_inception(convert(source, tmp_path / "fid-inception.safetensors"))
    torch.testing.assert_close(
        model.features(signed(golden, "small")), golden.outputs["small_signed"], rtol=0, atol=TOLERANCE
    )


def cheap_state(**changes: tuple[int, ...] | None) -> dict[str, torch.Tensor]:
    """The official layout filled with one stored zero per tensor (small files), with keys added, reshaped or dropped."""
    shapes = {key: shape for key, shape, _ in official_layout() if not key.endswith("num_batches_tracked")}
    shapes.update(changes)
    return {key: torch.zeros(1).expand(shape) for key, shape in shapes.items() if shape is not None}


def test_malformed_official_files_are_refused(tmp_path):
    cases = [
        (cheap_state(**{"Mixed_6e.branch7x7_2.conv.weight": None}), "lacks Mixed_6e.branch7x7_2.conv.weight"),
        (
            cheap_state(**{"Mixed_8a.conv.weight": (1,)}),
            "has tensors that pytorch-fid's FID Inception weights .* does not: Mixed_8a.conv.weight",
        ),
        (cheap_state(**{"fc.weight": (1000, 2048)}), r"fc.weight is \(1000, 2048\), not \(1008, 2048\)"),
    ]
    for state, message in cases:
        source = tmp_path / OFFICIAL
        source.write_bytes(saved(state))
        with pytest.raises(CheckpointError, match=message):
            convert(source, tmp_path / "out.safetensors", format="fid-inception")
    assert not (tmp_path / "out.safetensors").exists()


def test_torchvision_imagenet_inception_is_not_taken_for_the_fid_network(tmp_path):
    """Same names up to pool3, other weights and pooling: its 1000-class classifier and AuxLogits tell it apart."""
    torchvision_like = {
        **cheap_state(**{"fc.weight": (1000, 2048), "fc.bias": (1000,)}),
        "AuxLogits.fc.weight": torch.zeros(1000, 768),
    }
    source = tmp_path / "inception_v3_google-0cc3c7bd.pth"
    source.write_bytes(saved(torchvision_like))
    assert not FIDInceptionConverter.sniff(source)
    assert FIDInceptionConverter.sniff(tmp_path / OFFICIAL) is False  # no file


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))  # what loading it would run: it leaves a folder behind


def test_a_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    source = tmp_path / OFFICIAL
    source.write_bytes(pickle.dumps({"Conv2d_1a_3x3.conv.weight": _RunsCode(marker)}, protocol=2))
    with pytest.raises(UnsafePickleError, match="which lswap will not load"):
        convert(source, tmp_path / "out.safetensors", format="fid-inception")
    assert not marker.exists()


# -- asset and download ----------------------------------------------------------------------------------


def test_asset_names_the_official_source_and_terms():
    (asset,) = inception_assets()
    assert asset.name == "inception" and "Apache-2.0" in asset.licence
    assert (
        asset.file(OFFICIAL).url == "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + OFFICIAL
    )
    assert [(c.source, c.converter) for c in asset.conversions] == [(OFFICIAL, "fid-inception")]


def test_the_file_must_match_the_hash_in_its_name(tmp_path):
    (tmp_path / OFFICIAL).write_bytes(b"not pytorch-fid's file")
    with pytest.raises(DownloadError, match="does not have the SHA-256 its name promises"):
        check_hash_prefix(tmp_path)


class _LocalInception:
    """The inception plugin with its asset pointing at a local server (hash recorded, not published)."""

    def __init__(self, base_url) -> None:
        self.assets = [
            dataclasses.replace(
                asset,
                check=None,
                files=tuple(dataclasses.replace(f, url=base_url(f.name), sha256=None) for f in asset.files),
            )
            for asset in inception_assets()
        ]

    @hookimpl
    def lswap_register_converters(self, register):
        inception_plugin.lswap_register_converters(register)

    @hookimpl
    def lswap_register_feature_networks(self, register):
        inception_plugin.lswap_register_feature_networks(register)

    @hookimpl
    def lswap_register_assets(self, register):
        for asset in self.assets:
            register(asset)


def test_fetch_downloads_converts_and_loads_by_asset_name(tmp_path, monkeypatch, golden):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LSWAP_NO_PROGRESS", "1")
    monkeypatch.setenv("LSWAP_DISABLE_PLUGINS", "inception")
    with running_file_server() as server:
        server.files[OFFICIAL] = saved(official_state(), legacy=True)
        register_plugin(_LocalInception(server.url), "local-inception")
        result = fetch("inception")
    assert result.fetched == [OFFICIAL] and [path.name for path in result.exports] == ["inception.safetensors"]
    model = load_fid_inception()
    torch.testing.assert_close(
        model.features(signed(golden, "small")), golden.outputs["small_signed"], rtol=0, atol=TOLERANCE
    )


class TestFIDInceptionConformance(FeatureNetworkConformance):
    component_name = "inception"
