"""The host's commands: --version, --help, plugins list, config show, error rendering."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lswap_core import config as config_module
from lswap_core.cli import app
from lswap_core.errors import ConfigError
from tests.support import PLUGIN_SOURCE
from tests.unit.test_config import SampleConfig  # noqa: F401 - the schema registered below

runner = CliRunner()

BROKEN_SOURCE = "raise ImportError('needs the missing package frobnicate')\n"
COMMAND_SOURCE = """
import typer
from lswap_core import hookimpl

@hookimpl
def lswap_register_commands(app):
    @app.command("hello")
    def hello(name: str = "world") -> None:
        '''Say hello.'''
        typer.echo(f"hello {name}")
"""
CLASHING_SOURCE = COMMAND_SOURCE.replace('"hello"', '"config"')


@pytest.fixture
def sample_kind(monkeypatch):
    monkeypatch.setitem(config_module.CONFIG_KINDS, "sample", "tests.unit.test_config:SampleConfig")


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("lswap ")


def test_help_lists_commands_and_survives_a_broken_plugin(fake_dists):
    fake_dists.add("broken-dist", {"broken": BROKEN_SOURCE})
    fake_dists.add("hello-dist", {"hello": COMMAND_SOURCE})
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("plugins", "config", "hello"):
        assert command in result.stdout


def test_plugins_list_json_reports_components_commands_and_failures(fake_dists):
    fake_dists.add("toy-dist", {"toy": PLUGIN_SOURCE}, version="1.2")
    fake_dists.add("broken-dist", {"broken": BROKEN_SOURCE})
    fake_dists.add("hello-dist", {"hello": COMMAND_SOURCE})
    result = runner.invoke(app, ["plugins", "list", "--json"])
    assert result.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    toy = plugins["toy"]
    assert (toy["version"], toy["source"], toy["status"], toy["builtin"]) == ("1.2", "toy-dist", "loaded", False)
    assert toy["components"][0]["kind"] == "generator" and toy["components"][0]["name"] == "toy"
    assert plugins["broken"]["status"] == "failed" and "frobnicate" in plugins["broken"]["error"]
    assert plugins["hello"]["commands"] == ["hello"]


def test_plugins_list_table_shows_status(fake_dists, monkeypatch):
    fake_dists.add("toy-dist", {"toy": PLUGIN_SOURCE})
    fake_dists.add("broken-dist", {"broken": BROKEN_SOURCE})
    fake_dists.add("hello-dist", {"hello": COMMAND_SOURCE})
    monkeypatch.setenv("LSWAP_DISABLE_PLUGINS", "hello")
    result = runner.invoke(app, ["plugins", "list", "--all"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "generator: toy" not in result.stdout  # --all lists one row per component
    for fragment in ("toy-dist", "generator", "failed", "frobnicate", "disabled"):
        assert fragment in result.stdout
    summary = runner.invoke(app, ["plugins", "list"], env={"COLUMNS": "200"})
    assert "generator: toy" in summary.stdout


def test_plugin_commands_run_and_clashing_ones_fail_their_plugin(fake_dists):
    fake_dists.add("hello-dist", {"hello": COMMAND_SOURCE})
    fake_dists.add("clash-dist", {"clash": CLASHING_SOURCE})
    result = runner.invoke(app, ["hello", "--name", "lswap"])
    assert result.exit_code == 0 and result.stdout == "hello lswap\n"
    listing = {p["name"]: p for p in json.loads(runner.invoke(app, ["plugins", "list", "--json"]).stdout)}
    assert listing["clash"]["status"] == "failed" and "'config' is already taken" in listing["clash"]["error"]


def test_config_show_resolves_overrides(tmp_path, sample_kind):
    path = tmp_path / "run.yaml"
    path.write_text("kind: sample\nsteps: 3\n")
    result = runner.invoke(app, ["config", "show", str(path), "--set", "optim.lr=0.01", "--set", "space=w"])
    assert result.exit_code == 0
    assert "kind: sample\n" in result.stdout and "steps: 3" in result.stdout
    assert "lr: 0.01" in result.stdout and "space: w\n" in result.stdout


@pytest.mark.parametrize(
    ("text", "overrides", "fragment"),
    [
        ("kind: sample\nsteps: [1\n", [], "is not valid YAML"),
        ("kind: sample\n", ["--set", "steps=lots"], "steps must be int, got str 'lots'"),
        ("kind: sample\n", ["--set", "stepz=1"], "unknown key 'stepz'"),
    ],
)
def test_config_errors_are_one_red_line(tmp_path, sample_kind, text, overrides, fragment):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert_one_line_error(runner.invoke(app, ["config", "show", str(path), *overrides]), fragment)


def test_missing_config_file_is_one_line(tmp_path):
    assert_one_line_error(runner.invoke(app, ["config", "show", str(tmp_path / "absent.yaml")]), "does not exist")


def test_debug_mode_keeps_the_traceback(tmp_path, sample_kind):
    path = tmp_path / "run.yaml"
    path.write_text("kind: sample\nsteps: x\n")
    result = runner.invoke(app, ["config", "show", str(path)], env={"LSWAP_DEBUG": "1"})
    assert result.exit_code == 1 and isinstance(result.exception, ConfigError)


def test_help_does_not_import_torch():
    code = (
        "import sys; from typer.testing import CliRunner; from lswap_core.cli import app;"
        "result = CliRunner().invoke(app, ['--help']); assert result.exit_code == 0, result.output;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "lswap_core", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("lswap ")
