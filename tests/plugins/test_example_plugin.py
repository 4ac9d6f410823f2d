"""The example third-party plugin, installed as a real distribution in a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lswap_core.cli import app
from lswap_core.plugins import reset_plugins
from lswap_core.testing import GeneratorConformance
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "lswap-example-plugin"


@pytest.fixture(scope="session")
def example_site(tmp_path_factory) -> Path:
    """The example plugin pip-installed (with its dist-info) into a fresh folder."""
    work = tmp_path_factory.mktemp("example")
    source = shutil.copytree(EXAMPLE, work / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(source)],
        check=True,
        capture_output=True,
    )
    return site


@pytest.fixture
def with_example(example_site, monkeypatch):
    monkeypatch.syspath_prepend(str(example_site))
    reset_plugins()
    yield
    for module in [m for m in sys.modules if m.startswith("lswap_example_plugin")]:
        del sys.modules[module]


def test_listed_by_the_command_line_of_a_separate_process(example_site):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(example_site), str(REPO)])}
    out = subprocess.run(
        [sys.executable, "-m", "lswap_core", "plugins", "list", "--json"], env=env, capture_output=True, text=True, check=True
    )
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    example = plugins["example"]
    assert (example["source"], example["version"], example["status"]) == ("lswap-example-plugin", "0.1.0", "loaded")
    assert [c["name"] for c in example["components"]] == ["example-style"]
    assert example["commands"] == ["example-info"]
    builtins = [p for p in plugins.values() if p["builtin"]]
    assert all(p["source"] == "builtin" and p["status"] == "loaded" for p in builtins)


def test_its_command_runs(with_example):
    result = CliRunner().invoke(app, ["example-info", "--resolution", "16"])
    assert result.exit_code == 0, result.output
    assert "layer_resolutions=[4, 8, 16, 16]" in result.stdout


@pytest.mark.usefixtures("with_example")
class TestExampleGeneratorConformance(GeneratorConformance):
    component_name = "example-style"
    config = {"resolution": 16, "channels": 8}
