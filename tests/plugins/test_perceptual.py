"""The perceptual networks: LPIPS against the lpips package's numbers, the official file layouts, downloads.

The fixture ``lpips.safetensors`` holds inputs and the lpips 0.1.4 outputs for
networks with keyed random weights (`keyed`), which the tests rebuild from the
official key names alone; ``tests/fixtures/README.md`` says how it was made.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from lswap_plugins.perceptual import LPIPS, NvidiaVGG16, feature_distance, load_lpips, load_vgg16
from lswap_plugins.perceptual import plugin as perceptual_plugin
from lswap_plugins.perceptual.assets import check_torchvision_hashes, perceptual_assets
from lswap_plugins.perceptual.trunks import TRUNKS

from lswap_core import hookimpl
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError, DownloadError, InputError
from lswap_core.legacy_pickle import UnsafePickleError
from lswap_core.plugins import register_plugin
from lswap_core.weights import fetch
from tests.golden import load_golden
from tests.http_server import running_file_server

WHEEL = "lpips-0.1.4-py3-none-any.whl"
TRUNK_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.s:DeprecationWarning")  # the tests write TorchScript archives


def keyed(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The fixture's weights: drawn from a generator seeded with crc32 of the official key name."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(zlib.crc32(key.encode())))
    if key.startswith("lin"):
        return x.abs() * 0.1
    if key.endswith(".bias"):
        return x * 0.01
    return x * math.sqrt(2.0 / math.prod(shape[1:]))


@functools.cache
def trunk_state(net: str) -> dict[str, torch.Tensor]:
    """torchvision's ``features.N.*`` for trunk ``net``, keyed."""
    spec = TRUNKS[net]
    state = {}
    for index in spec.conv_indices():
        _, cin, cout, kernel, _, _ = spec.layers[index]
        state[f"features.{index}.weight"] = keyed(f"features.{index}.weight", (cout, cin, kernel, kernel))
        state[f"features.{index}.bias"] = keyed(f"features.{index}.bias", (cout,))
    return state


@functools.cache
def head_state(net: str) -> dict[str, torch.Tensor]:
    """lpips' ``lin{k}.model.1.weight`` for trunk ``net``, keyed."""
    return {f"lin{k}.model.1.weight": keyed(f"lin{k}.model.1.weight", (1, c, 1, 1)) for k, c in enumerate(TRUNKS[net].channels)}


def keyed_lpips(net: str) -> LPIPS:
    model = LPIPS(net, pretrained=False)
    heads = head_state(net)
    model.load_state_dict({**trunk_state(net), **{f"lin{k}.weight": heads[f"lin{k}.model.1.weight"] for k in range(5)}})
    return model


@pytest.fixture(scope="module")
def golden():
    return load_golden("lpips")


def images(golden, scale: str = "lpips") -> tuple[torch.Tensor, torch.Tensor]:
    img0, img1 = golden.inputs["img0"].float(), golden.inputs["img1"].float()
    if scale == "lpips":
        return img0 / 127.5 - 1, img1 / 127.5 - 1
    if scale == "unit":
        return img0 / 255, img1 / 255
    return img0, img1


# -- official file layouts, built here ------------------------------------------------------------


def write_wheel(path: Path, heads: dict[str, bytes]) -> Path:
    """A wheel in lpips 0.1.4's layout, with ``lpips/weights/v0.1/<net>.pth`` holding the given bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("lpips/__init__.py", "")
        for net, data in heads.items():
            archive.writestr(f"lpips/weights/v0.1/{net}.pth", data)
        archive.writestr("lpips-0.1.4.dist-info/METADATA", "Name: lpips\nVersion: 0.1.4\n")
    return path


def saved(obj: object, *, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def torchvision_file(net: str) -> bytes:
    """torchvision's ImageNet file: ``features.*`` plus a (small stand-in) classifier, zip format."""
    return saved({**trunk_state(net), "classifier.1.weight": torch.zeros(4, 8), "classifier.1.bias": torch.zeros(4)})


def official_lpips_folder(folder: Path, net: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_wheel(folder / WHEEL, {n: saved(head_state(n), legacy=True) for n in ("alex", "vgg")})  # lpips ships legacy files
    (folder / TRUNK_FILES[net]).write_bytes(torchvision_file(net))
    return folder


class _Layers(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        trunk = trunk_state("vgg")
        for k, index in enumerate(TRUNKS["vgg"].conv_indices(), 1):
            conv = torch.nn.Conv2d(1, 1, 1)
            conv.weight = torch.nn.Parameter(trunk[f"features.{index}.weight"])
            conv.bias = torch.nn.Parameter(trunk[f"features.{index}.bias"])
            self.add_module(f"conv{k}", conv)
        for k in range(1, 4):
            self.add_module(f"fc{k}", torch.nn.Linear(4, 4))  # the classifier, unused by the LPIPS features


class _NvidiaLike(torch.nn.Module):
    """A module with the parameter names of NVIDIA's vgg16.pt, to be saved as a TorchScript archive."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = _Layers()
        heads = head_state("vgg")
        for k in range(5):
            self.register_parameter(f"lpips{k}", torch.nn.Parameter(heads[f"lin{k}.model.1.weight"].reshape(-1, 1, 1)))

    def forward(self, img: torch.Tensor, resize_images: bool = True, return_lpips: bool = False) -> torch.Tensor:
        return img


@pytest.fixture(scope="module")
def nvidia_archive(tmp_path_factory) -> Path:
    """A TorchScript archive with the tensor names of NVIDIA's vgg16.pt (written once: 60 MB)."""
    path = tmp_path_factory.mktemp("nvidia") / "vgg16.pt"
    torch.jit.save(torch.jit.script(_NvidiaLike()), str(path))
    return path


# -- parity with the lpips package --------------------------------------------------------------------


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_matches_the_lpips_package(golden, net):
    model = keyed_lpips(net)
    x0, x1 = images(golden)
    terms = model.layer_distances(x0, x1)
    distance = sum(terms[1:], terms[0])  # what forward returns
    assert distance.shape == (3, 1, 1, 1)
    torch.testing.assert_close(distance, golden.outputs[net], rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.stack([t.reshape(-1) for t in terms]), golden.outputs[f"{net}_layers"], rtol=0, atol=1e-6)
    u0, u1 = images(golden, "unit")
    torch.testing.assert_close(model(u0, u1, normalize=True), golden.outputs[f"{net}_normalize"], rtol=0, atol=1e-6)
    assert distance[2].item() == 0.0  # the identical pair


def test_nvidia_features_give_the_lpips_vgg_distance(golden):
    model = NvidiaVGG16()
    trunk, heads = trunk_state("vgg"), head_state("vgg")
    state = {}
    for k, index in enumerate(TRUNKS["vgg"].conv_indices(), 1):
        state[f"layers.conv{k}.weight"], state[f"layers.conv{k}.bias"] = trunk[f"features.{index}.weight"], trunk[f"features.{index}.bias"]
    state.update({f"lpips{k}": heads[f"lin{k}.model.1.weight"].reshape(-1) for k in range(5)})
    model.load_state_dict(state)
    img0, img1 = images(golden, "0_255")
    torch.testing.assert_close(feature_distance(model(img0), model(img1)), golden.outputs["vgg"].reshape(-1), rtol=0, atol=1e-6)


def test_gradients_reach_the_images_and_weights_stay_frozen():
    model = LPIPS("alex", pretrained=False)
    x0 = torch.rand(1, 3, 32, 32, requires_grad=True)
    model(x0 * 2 - 1, torch.zeros(1, 3, 32, 32)).sum().backward()
    assert x0.grad is not None and x0.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in model.parameters())


def test_random_networks_are_seeded_and_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = LPIPS("alex", pretrained=False), LPIPS("alex", pretrained=False), LPIPS("alex", pretrained=False, init_seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.features[0].weight, b.features[0].weight) and not torch.equal(a.features[0].weight, c.features[0].weight)
    assert all((lin.weight >= 0).all() for lin in a.lins)


def test_bad_inputs_are_refused_in_one_line():
    model = LPIPS("alex", pretrained=False)
    with pytest.raises(InputError, match="one shape"):
        model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 32, 32))
    with pytest.raises(InputError, match="at least 31x31"):
        model(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16))
    with pytest.raises(InputError, match="unknown LPIPS trunk 'squeeze'"):
        LPIPS("squeeze", pretrained=False)
    with pytest.raises(InputError, match="at least 16x16"):
        NvidiaVGG16()(torch.zeros(1, 3, 8, 8))


def test_official_weights_that_are_not_fetched_say_how_to_fetch_them(tmp_path, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match="run `lswap weights fetch lpips`"):
        LPIPS("alex")
    with pytest.raises(CheckpointError, match="run `lswap weights fetch vgg16`"):
        load_vgg16()


# -- conversion of the official layouts ---------------------------------------------------------------


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_official_lpips_files_convert_and_load(tmp_path, golden, net):
    folder = official_lpips_folder(tmp_path / "official", net)
    assert find_converter(folder).name == f"lpips-{net}"
    export = convert(folder, tmp_path / f"lpips-{net}.safetensors")
    model = load_lpips(net, weights=export)
    torch.testing.assert_close(model(*images(golden)), golden.outputs[net], rtol=0, atol=1e-6)
    with pytest.raises(CheckpointError, match=f"not the perceptual network 'lpips-{'vgg' if net == 'alex' else 'alex'}'"):
        load_lpips("vgg" if net == "alex" else "alex", weights=export)


def test_bare_heads_file_beside_the_trunk_converts(tmp_path, golden):
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "alex.pth").write_bytes(saved(head_state("alex")))
    (folder / TRUNK_FILES["alex"]).write_bytes(torchvision_file("alex"))
    model = load_lpips("alex", weights=convert(folder, tmp_path / "out.safetensors"))
    torch.testing.assert_close(model(*images(golden)), golden.outputs["alex"], rtol=0, atol=1e-6)


def test_nvidia_torchscript_archive_is_read_as_data(tmp_path, golden, nvidia_archive):
    source = nvidia_archive
    assert find_converter(source).name == "vgg16-nvidia"
    model = load_vgg16(convert(source, tmp_path / "vgg16.safetensors"))
    img0, img1 = images(golden, "0_255")
    torch.testing.assert_close(feature_distance(model(img0), model(img1)), golden.outputs["vgg"].reshape(-1), rtol=0, atol=1e-6)


def test_malformed_official_files_are_refused(tmp_path):
    folder = official_lpips_folder(tmp_path / "official", "alex")
    write_wheel(folder / WHEEL, {"vgg": saved(head_state("vgg"))})  # no alex.pth inside
    with pytest.raises(CheckpointError, match="has no lpips/weights/v0.1/alex.pth"):
        convert(folder, tmp_path / "out.safetensors", format="lpips-alex")
    archive = tmp_path / "wrong.pt"
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 4, 1)), str(archive))
    with pytest.raises(CheckpointError, match="lacks layers.conv1.weight"):
        convert(archive, tmp_path / "out.safetensors", format="vgg16-nvidia")
    assert not (tmp_path / "out.safetensors").exists()


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))  # what loading it would run: it leaves a folder behind


def hostile_pickle(marker: Path) -> bytes:
    return pickle.dumps({"lin0.model.1.weight": _RunsCode(marker)}, protocol=2)


def test_a_heads_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    folder = official_lpips_folder(tmp_path / "official", "alex")
    write_wheel(folder / WHEEL, {"alex": hostile_pickle(marker)})
    with pytest.raises(UnsafePickleError, match="which lswap will not load"):
        convert(folder, tmp_path / "out.safetensors", format="lpips-alex")
    assert not marker.exists()


def test_a_torchscript_archive_that_would_run_code_is_refused_and_runs_nothing(tmp_path, nvidia_archive):
    marker = tmp_path / "ran"
    source = nvidia_archive
    hostile = tmp_path / "hostile.pt"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(hostile, "w") as out:
        for item in original.infolist():
            data = original.read(item)
            if item.filename.endswith("/data.pkl"):
                data = hostile_pickle(marker)[:-1] + b"0" + data[2:]  # code first, then the real archive's pickle
            out.writestr(item, data)
    with pytest.raises(UnsafePickleError, match="refers to posix.mkdir|refers to os.mkdir"):
        convert(hostile, tmp_path / "out.safetensors", format="vgg16-nvidia")
    assert not marker.exists()


# -- assets and downloads ----------------------------------------------------------------------------


def test_assets_name_the_official_sources_and_hashes():
    assets = {asset.name: asset for asset in perceptual_assets()}
    assert set(assets) == {"lpips", "lpips-vgg", "vgg16"}
    wheel = assets["lpips"].file(WHEEL)
    assert wheel.url.startswith("https://files.pythonhosted.org/") and wheel.sha256.startswith("fd537af5")
    assert assets["lpips"].file(TRUNK_FILES["alex"]).url == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert assets["lpips-vgg"].file(TRUNK_FILES["vgg"]).sha256.startswith("397923af")
    assert assets["vgg16"].file("vgg16.pt").url.endswith("/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt")
    assert all(asset.licence and asset.conversions for asset in assets.values())


def test_torchvision_files_must_match_the_hash_in_their_name(tmp_path):
    (tmp_path / TRUNK_FILES["alex"]).write_bytes(b"not torchvision's file")
    with pytest.raises(DownloadError, match="does not have the SHA-256 its name promises"):
        check_torchvision_hashes(tmp_path)


class _LocalPerceptual:
    """The perceptual plugin with its assets pointing at a local server (hashes recorded, not published)."""

    def __init__(self, base_url) -> None:
        self.assets = [
            dataclasses.replace(
                asset, check=None, files=tuple(dataclasses.replace(f, url=base_url(f.name), sha256=None) for f in asset.files)
            )
            for asset in perceptual_assets()
        ]

    @hookimpl
    def lswap_register_converters(self, register):
        perceptual_plugin.lswap_register_converters(register)

    @hookimpl
    def lswap_register_assets(self, register):
        for asset in self.assets:
            register(asset)


def test_fetch_downloads_converts_and_loads_by_asset_name(tmp_path, monkeypatch, golden, nvidia_archive):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LSWAP_NO_PROGRESS", "1")
    monkeypatch.setenv("LSWAP_DISABLE_PLUGINS", "perceptual")
    official = official_lpips_folder(tmp_path / "official", "alex")
    with running_file_server() as server:
        server.files[WHEEL] = (official / WHEEL).read_bytes()
        server.files[TRUNK_FILES["alex"]] = (official / TRUNK_FILES["alex"]).read_bytes()
        server.files["vgg16.pt"] = nvidia_archive.read_bytes()
        register_plugin(_LocalPerceptual(server.url), "local-perceptual")
        lpips_result, vgg_result = fetch("lpips"), fetch("vgg16")
    assert sorted(lpips_result.fetched) == sorted([WHEEL, TRUNK_FILES["alex"]])
    assert [path.name for path in lpips_result.exports] == ["lpips-alex.safetensors"]
    torch.testing.assert_close(load_lpips("alex")(*images(golden)), golden.outputs["alex"], rtol=0, atol=1e-6)
    torch.testing.assert_close(LPIPS("alex")(*images(golden)), golden.outputs["alex"], rtol=0, atol=1e-6)
    assert [path.name for path in vgg_result.exports] == ["vgg16.safetensors"]
    img0, img1 = images(golden, "0_255")
    model = load_vgg16()
    torch.testing.assert_close(feature_distance(model(img0), model(img1)), golden.outputs["vgg"].reshape(-1), rtol=0, atol=1e-6)
