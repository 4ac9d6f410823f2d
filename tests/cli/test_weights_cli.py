"""``lswap weights list|fetch|verify``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lswap_core.cli import app
from tests.cli.test_host_commands import assert_one_line_error
from tests.http_server import running_file_server
from tests.unit.test_weights import PAYLOAD, declare, downloadable, manual_asset

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LSWAP_NO_PROGRESS", "1")
    return tmp_path / "home"


def test_list_shows_every_asset_with_its_licence():
    result = runner.invoke(app, ["weights", "list", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assets = {asset["name"]: asset for asset in listing["assets"]}
    assert assets["bfm"]["licence"].startswith("Basel Face Model licence")
    assert assets["faceapi"]["files"][0]["source"] == "npm" and assets["faceapi"]["npm"] == "@vladmandic/face-api@1.7.15"
    assert assets["deep3dface"]["files"][1]["sha256_origin"] == "published"
    assert all(asset["status"] == "missing" and asset["licence"] for asset in assets.values())
    table = runner.invoke(app, ["weights", "list", "arcface-*"])
    assert table.exit_code == 0 and "arcface-iresnet100" in table.stdout and "smoothswap" not in table.stdout


def test_fetch_and_verify_a_download(home):
    with running_file_server() as server:
        server.files["net.pkl"] = PAYLOAD
        declare(downloadable(server.url("net.pkl")))
        result = runner.invoke(app, ["weights", "fetch", "net"])
    assert result.exit_code == 0, result.output
    assert "net: fetched net.pkl in" in result.stdout
    verified = runner.invoke(app, ["weights", "verify", "--json"])
    assert verified.exit_code == 0 and json.loads(verified.stdout) == [
        {"asset": "net", "file": "net.pkl", "status": "published", "detail": "", "ok": True}
    ]
    (home / "assets" / "net" / "net.pkl").write_bytes(b"corrupted")
    failed = runner.invoke(app, ["weights", "verify", "net"])
    assert "MISMATCH" in failed.stdout
    assert_one_line_error(failed, "1 file(s) failed verification: net/net.pkl")


def test_a_hash_mismatch_is_one_error_line():
    with running_file_server() as server:
        server.files["net.pkl"] = b"something else"
        declare(downloadable(server.url("net.pkl")))
        result = runner.invoke(app, ["weights", "fetch", "net"])
    assert_one_line_error(result, "refused, nothing was cached")


def test_manual_assets_say_where_to_get_them(home):
    declare(manual_asset())
    result = runner.invoke(app, ["weights", "fetch", "hand"])
    assert_one_line_error(result, "https://drive.example/abc")
    assert str(home / "assets" / "hand") in result.stderr.replace("\n", "")


def test_from_needs_exactly_one_asset(tmp_path):
    result = runner.invoke(app, ["weights", "fetch", "bfm", "deep3dface", "--from", str(tmp_path)])
    assert_one_line_error(result, "--from goes with exactly one asset name")


def test_unknown_assets_suggest_the_closest():
    result = runner.invoke(app, ["weights", "fetch", "smoothswop"])
    assert_one_line_error(result, "did you mean 'smoothswap'")


def test_verify_with_nothing_cached():
    result = runner.invoke(app, ["weights", "verify"])
    assert result.exit_code == 0 and "no cached assets" in result.stdout


def test_plugins_list_shows_the_assets_each_plugin_declares():
    result = runner.invoke(app, ["plugins", "list", "--json"])
    plugins = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}
    assert plugins["deep3dface"]["assets"] == ["bfm", "deep3dface"]
    assert plugins["faceapi"]["assets"] == ["faceapi"]
    assert "stylegan2-ffhq" in plugins["stylegan2"]["assets"] and "latentswap-mixer" in plugins["latentswap"]["assets"]
    assert plugins["stylenerf"]["assets"] == ["stylenerf-ffhq-1024", "stylenerf-ffhq-256", "stylenerf-ffhq-512"]
    assert plugins["e4e"]["assets"] == ["e4e-ffhq"]
