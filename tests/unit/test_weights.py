"""The weights registry: declarations, resumable verified downloads, npm packages, manual files, weights=NAME."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
import torch

import lswap_core
from lswap_core import hookimpl
from lswap_core.errors import CheckpointError, DownloadError, DuplicateComponentError, InputError, UnknownComponentError
from lswap_core.plugins import register_plugin
from lswap_core.downloads import npm_tarball_url
from lswap_core.assets import Asset, AssetFile, Conversion, asset_folder, get_asset, list_assets, recorded_hashes, resolve_weights
from lswap_core.weights import fetch, verify
from tests.conftest import SHARED_ASSETS, needs_assets
from tests.face_models import write_bfm
from tests.http_server import running_file_server
from tests.pickles import write_lightning_checkpoint

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, so that a download spans several reads
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class AssetPlugin:
    """A plugin object declaring the given assets."""

    def __init__(self, *assets: Asset) -> None:
        self.assets = assets

    @hookimpl
    def lswap_register_assets(self, register):
        for asset in self.assets:
            register(asset)


def declare(*assets: Asset, name: str = "test-assets") -> None:
    register_plugin(AssetPlugin(*assets), name)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LSWAP_NO_PROGRESS", "1")
    return tmp_path / "home"


@pytest.fixture
def server():
    with running_file_server() as running:
        yield running


def downloadable(url: str, sha256: str | None = PAYLOAD_SHA256, name: str = "net") -> Asset:
    return Asset(name=name, description="a test network", licence="MIT", homepage="https://example.org",
                 files=(AssetFile("net.pkl", url=url, sha256=sha256),))


# -- declarations ----------------------------------------------------------------------------


def test_builtin_assets_are_declared_with_licences_and_sources():
    names = {entry.asset.name for entry in list_assets()}
    assert {"smoothswap", "arcface-ir-se50", "arcface-iresnet50", "arcface-iresnet100", "deep3dface", "bfm",
            "stylegan2-ffhq", "stylegan2-rosinality-ffhq", "e4e-ffhq", "latentswap-mixer", "faceapi"} <= names
    for entry in list_assets():
        asset = entry.asset
        assert asset.licence and asset.homepage.startswith("https://")
        for file in asset.files:
            assert file.url or file.member or "http" in asset.manual, f"{asset.name}/{file.name} has no source"
    assert get_asset("deep3dface").requires == ("bfm",)
    assert list_assets("arcface-*")[0].plugin == "arcface"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name"}, "lower case"),
        ({"files": ()}, "no files"),
        ({"files": (AssetFile("a"), AssetFile("a"))}, "distinct"),
        ({"files": (AssetFile("../a", url="http://x"),)}, "plain names"),
        ({"files": (AssetFile("a"),), "manual": ""}, "manual"),
        ({"files": (AssetFile("a", member="model/a"),)}, "npm package"),
        ({"files": (AssetFile("a", url="http://x", sha256="abc"),)}, "malformed sha256"),
        ({"conversions": (Conversion("b", "b.safetensors"),)}, "not one of its files"),
        ({"conversions": (Conversion("a", "a.bin"),)}, ".safetensors"),
    ],
)
def test_malformed_declarations_are_refused(kwargs, message):
    values = {"name": "x", "description": "d", "licence": "MIT", "homepage": "https://e.org",
              "files": (AssetFile("a", url="http://x"),), **kwargs}
    with pytest.raises(ValueError, match=message):
        Asset(**values)


def test_an_asset_declared_by_two_plugins_names_both():
    declare(downloadable("http://127.0.0.1:9/a"), name="first")
    declare(downloadable("http://127.0.0.1:9/b"), name="second")
    with pytest.raises(DuplicateComponentError, match="'first' and plugin 'second'"):
        get_asset("net")
    with pytest.raises(UnknownComponentError, match="did you mean 'bfm'"):
        get_asset("bfn")


# -- downloads -------------------------------------------------------------------------------


def test_download_lands_verified(server, home):
    server.files["net.pkl"] = PAYLOAD
    declare(downloadable(server.url("net.pkl")))
    result = fetch("net")
    assert result.fetched == ["net.pkl"]
    assert (home / "assets" / "net" / "net.pkl").read_bytes() == PAYLOAD
    assert sorted(p.name for p in (home / "assets" / "net").iterdir()) == ["net.pkl"]  # no partial or temporary file
    assert fetch("net").fetched == []  # cached: nothing downloaded again
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_a_range_request(server, home):
    server.files["net.pkl"] = PAYLOAD
    server.cut["net.pkl"] = 300_000
    declare(downloadable(server.url("net.pkl")))
    with pytest.raises(DownloadError, match="run `lswap weights fetch net` again to resume"):
        fetch("net")
    folder = home / "assets" / "net"
    assert not (folder / "net.pkl").exists()
    assert (folder / "net.pkl.part").stat().st_size == 300_000
    fetch("net")
    assert server.requests[-1] == ("net.pkl", "bytes=300000-")
    assert (folder / "net.pkl").read_bytes() == PAYLOAD and not (folder / "net.pkl.part").exists()


def test_a_server_that_ignores_ranges_restarts_the_download(server, home):
    server.files["net.pkl"] = PAYLOAD
    server.ignore_ranges = True
    folder = home / "assets" / "net"
    folder.mkdir(parents=True)
    (folder / "net.pkl.part").write_bytes(b"stale bytes of another file")
    declare(downloadable(server.url("net.pkl")))
    fetch("net")
    assert (folder / "net.pkl").read_bytes() == PAYLOAD


def test_a_complete_partial_file_is_finished_without_downloading(server, home):
    server.files["net.pkl"] = PAYLOAD
    folder = home / "assets" / "net"
    folder.mkdir(parents=True)
    (folder / "net.pkl.part").write_bytes(PAYLOAD)  # the server answers 416: nothing left
    declare(downloadable(server.url("net.pkl")))
    fetch("net")
    assert (folder / "net.pkl").read_bytes() == PAYLOAD


def test_a_hash_mismatch_is_refused_and_nothing_is_cached(server, home):
    server.files["net.pkl"] = PAYLOAD[:-1] + b"\x00"
    declare(downloadable(server.url("net.pkl")))
    with pytest.raises(DownloadError, match="not the published .*refused, nothing was cached"):
        fetch("net")
    assert list((home / "assets" / "net").iterdir()) == []


def test_unpublished_hashes_are_recorded_on_first_fetch_and_then_enforced(server, home):
    server.files["net.pkl"] = PAYLOAD
    declare(downloadable(server.url("net.pkl"), sha256=None))
    fetch("net")
    assert recorded_hashes() == {"net/net.pkl": PAYLOAD_SHA256}
    record = json.loads((home / "recorded-sha256.json").read_text())["net/net.pkl"]
    assert record["source"] == server.url("net.pkl") and record["recorded"]
    assert [c.status for c in verify("net")] == ["recorded"]
    path = home / "assets" / "net" / "net.pkl"
    path.write_bytes(b"tampered")
    (check,) = verify("net")
    assert check.status == "mismatch" and not check.ok and "not the recorded" in check.detail
    with pytest.raises(DownloadError, match="delete it and run `lswap weights fetch net`"):
        fetch("net")


def test_http_errors_and_unreachable_servers_are_clear(server):
    declare(downloadable(server.url("missing.pkl")), downloadable("http://127.0.0.1:9/net.pkl", name="offline"))
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch("net")
    with pytest.raises(DownloadError, match="cannot reach http://127.0.0.1:9/net.pkl"):
        fetch("offline")


# -- files obtained by hand ------------------------------------------------------------------------


def manual_asset(**kwargs) -> Asset:
    values = {"name": "hand", "description": "d", "licence": "research only", "homepage": "https://e.org",
              "files": (AssetFile("weights.ckpt", sha256=PAYLOAD_SHA256),),
              "manual": "download weights.ckpt from https://drive.example/abc", **kwargs}
    return Asset(**values)


def test_a_manual_asset_says_where_to_get_it_and_where_to_put_it(home):
    declare(manual_asset())
    with pytest.raises(DownloadError) as error:
        fetch("hand")
    message = str(error.value)
    assert "download weights.ckpt from https://drive.example/abc" in message
    assert str(home / "assets" / "hand") in message and "--from" in message


def test_a_manually_placed_file_is_verified(home):
    declare(manual_asset())
    folder = home / "assets" / "hand"
    folder.mkdir(parents=True)
    (folder / "weights.ckpt").write_bytes(PAYLOAD)
    assert fetch("hand").fetched == []
    assert [c.status for c in verify("hand")] == ["published"]
    (folder / "weights.ckpt").write_bytes(b"other")
    assert verify("hand")[0].status == "mismatch"


def test_from_copies_a_file_under_its_official_name_after_verifying_it(tmp_path, home):
    declare(manual_asset())
    wrong = tmp_path / "download (1).ckpt"
    wrong.write_bytes(b"not it")
    with pytest.raises(DownloadError, match="refused, nothing was cached"):
        fetch("hand", source=wrong)
    assert not (home / "assets" / "hand" / "weights.ckpt").exists()
    right = tmp_path / "download (2).ckpt"
    right.write_bytes(PAYLOAD)
    assert fetch("hand", source=right).fetched == ["weights.ckpt"]
    assert (home / "assets" / "hand" / "weights.ckpt").read_bytes() == PAYLOAD
    with pytest.raises(InputError, match="does not exist"):
        fetch("hand", source=tmp_path / "nothing")


def test_required_assets_are_fetched_before_converting(tmp_path, home):
    declare(manual_asset(), manual_asset(name="needs-hand", requires=("hand",)))
    own = tmp_path / "weights.ckpt"
    own.write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match="^hand needs weights.ckpt"):
        fetch("needs-hand", source=own)
    assert (home / "assets" / "needs-hand" / "weights.ckpt").is_file()  # its own file landed first
    fetch("hand", source=own)
    assert fetch("needs-hand").fetched == []


def test_content_checks_run_after_verification(tmp_path, home):
    bad = write_bfm(tmp_path / "BFM_model_front.mat", without=("idBase",))
    with pytest.raises(CheckpointError, match="lacks the field.s. idBase"):
        fetch("bfm", source=bad)
    checks = verify("bfm")
    assert checks[0].status == "recorded" and checks[-1].status == "check failed" and "idBase" in checks[-1].detail


# -- conversion and weights=NAME ----------------------------------------------------------------


def smooth_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    embedder = lswap_core.load_embedder("smoothswap", preset="tiny")
    return write_lightning_checkpoint(path, {f"net.{k}": v for k, v in embedder.state_dict().items()}, {"lr": 1e-4})


def test_fetch_converts_and_weights_resolve_by_asset_name(tmp_path, home):
    source = smooth_checkpoint(tmp_path / "epoch=5-step=109999.ckpt")
    with pytest.raises(CheckpointError, match="run `lswap weights fetch smoothswap`"):
        lswap_core.load_embedder("smoothswap", weights="smoothswap")
    result = fetch("smoothswap", source=source)
    assert result.exports == [home / "assets" / "smoothswap" / "smoothswap.safetensors"]
    embedder = lswap_core.load_embedder("smoothswap", weights="smoothswap")
    assert embedder.config.fc_dim == 32 and embedder.embedding_dim == 16
    assert resolve_weights("smoothswap", "embedder", "smoothswap") == result.exports[0]
    with pytest.raises(CheckpointError, match="not the identity embedder 'arcface'"):
        lswap_core.load_embedder("arcface", weights="smoothswap")


def test_weights_that_are_neither_files_nor_assets():
    with pytest.raises(CheckpointError, match="neither a file nor a known asset.*lswap weights list"):
        lswap_core.load_embedder("smoothswap", weights="smothswap")
    with pytest.raises(CheckpointError, match="does not exist"):
        lswap_core.load_embedder("smoothswap", weights="missing.safetensors")


def test_files_without_a_converter_are_kept_and_reported(server):
    server.files["net.pkl"] = PAYLOAD
    declare(Asset(name="net", description="d", licence="MIT", homepage="https://e.org",
                  files=(AssetFile("net.pkl", url=server.url("net.pkl"), sha256=PAYLOAD_SHA256),),
                  conversions=(Conversion("net.pkl", "net.safetensors"),)))
    result = fetch("net")
    assert result.exports == [] and "no installed converter reads it" in result.notes[0]
    with pytest.raises(CheckpointError, match="not fetched yet"):
        resolve_weights("net", "generator", "stylegan2")


# -- npm packages -------------------------------------------------------------------------------------


def package_tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def npm_asset(**kwargs) -> tuple[Asset, dict[str, bytes]]:
    weights = b"\x01\x02" * 1000
    manifest = b'[{"paths": ["net.bin"], "weights": []}]'
    values = {"name": "jsnets", "description": "d", "licence": "MIT", "homepage": "https://e.org", "npm": "@scope/nets@1.2.3",
              "files": (AssetFile("net.bin", sha256=hashlib.sha256(weights).hexdigest(), member="model/net.bin"),
                        AssetFile("net-weights_manifest.json", sha256=hashlib.sha256(manifest).hexdigest(),
                                  member="model/net-weights_manifest.json")),
              **kwargs}
    return Asset(**values), {"model/net.bin": weights, "model/net-weights_manifest.json": manifest, "README.md": b"hi"}


def test_npm_files_are_unpacked_from_a_package_tarball(tmp_path, home):
    asset, contents = npm_asset()
    declare(asset)
    tarball = package_tarball(tmp_path / "nets-1.2.3.tgz", contents)
    assert sorted(fetch("jsnets", source=tarball).fetched) == ["net-weights_manifest.json", "net.bin"]
    assert (home / "assets" / "jsnets" / "net.bin").read_bytes() == contents["model/net.bin"]
    assert not (home / "assets" / "jsnets" / "README.md").exists()  # only the declared files


def test_a_tarball_without_the_files_or_with_other_bytes_is_refused(tmp_path, home):
    asset, contents = npm_asset()
    declare(asset)
    with pytest.raises(DownloadError, match="has no model/net.bin"):
        fetch("jsnets", source=package_tarball(tmp_path / "a.tgz", {"model/other.bin": b"x"}))
    changed = {**contents, "model/net.bin": b"different"}
    with pytest.raises(DownloadError, match="refused, nothing was cached"):
        fetch("jsnets", source=package_tarball(tmp_path / "b.tgz", changed))
    assert not (home / "assets" / "jsnets" / "net.bin").exists()


def test_npm_pack_is_run_for_npm_assets(tmp_path, monkeypatch, home):
    asset, contents = npm_asset()
    declare(asset)
    tarball = package_tarball(tmp_path / "prepared.tgz", contents)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    npm = bin_folder / "npm"  # stands in for the npm client: `npm pack SPEC` writes the tarball to the working folder
    npm.write_text(f'#!/bin/sh\n[ "$1" = pack ] && [ "$2" = "@scope/nets@1.2.3" ] && cp "{tarball}" nets-1.2.3.tgz\n')
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    assert len(fetch("jsnets").fetched) == 2


def test_without_npm_the_error_names_the_tarball_to_download(monkeypatch, tmp_path):
    asset, _ = npm_asset()
    declare(asset)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DownloadError, match=r"needs npm.*https://registry.npmjs.org/@scope/nets/-/nets-1.2.3.tgz.*--from"):
        fetch("jsnets")


def test_npm_tarball_urls():
    assert npm_tarball_url("@vladmandic/face-api@1.7.15") == "https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz"
    assert npm_tarball_url("left-pad@1.3.0") == "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"


def test_face_api_is_declared_with_the_published_package_hashes():
    asset = get_asset("faceapi")
    assert asset.npm == "@vladmandic/face-api@1.7.15"
    members = {file.member for file in asset.files}
    assert "model/face_recognition_model.bin" in members and "LICENSE" in members
    assert all(file.sha256 for file in asset.files)
    assert [c.output for c in asset.conversions] == ["faceapi-embedder.safetensors", "faceapi-analyzer.safetensors"]


@needs_assets("face-api")
def test_shared_face_api_files_match_the_declared_hashes(tmp_path, home):
    asset = get_asset("faceapi")
    folder = SHARED_ASSETS / "face-api"
    for file in asset.files:
        assert hashlib.sha256((folder / file.name).read_bytes()).hexdigest() == file.sha256, file.name
    fetch("faceapi", source=folder)
    assert asset_folder("faceapi").is_dir() and all(c.ok for c in verify("faceapi"))
    # The fetched asset loads by name, each component from its own export.
    import lswap_core

    assert lswap_core.load_embedder("faceapi", weights="faceapi").embedding_dim == 128
    assert lswap_core.load_face_analyzer("faceapi", weights="faceapi").name == "faceapi"
