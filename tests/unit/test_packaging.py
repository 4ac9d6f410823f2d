"""The distribution ships every package, plugin and built-in config."""

from __future__ import annotations

import shutil
import subprocess
import sys

import zipfile

import pytest

tomllib = pytest.importorskip("tomllib")

from tests.conftest import REPO

PACKAGE_ROOTS = {
    "lswap_core": REPO / "lswap_core",
    "lswap_plugins": REPO / "plugins",
    "lswap_benchmarks": REPO / "benchmarks",
    "lswap_configs": REPO / "configs",
}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_python_package_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = set()
    for name, root in PACKAGE_ROOTS.items():
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            on_disk.add(".".join((name, *relative)))
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_builtin_plugins_point_at_packaged_modules():
    entry_points = _pyproject()["project"].get("entry-points", {}).get("lswap", {})
    for name, target in entry_points.items():
        module = target.split(":")[0]
        assert module.startswith("lswap_plugins."), f"built-in plugin {name} must live in plugins/"
        path = REPO / "plugins" / (module.removeprefix("lswap_plugins.").replace(".", "/") + ".py")
        assert path.is_file(), f"entry point {name} names {module}, but {path} does not exist"


@pytest.mark.slow
def test_wheel_contains_plugins_and_configs(tmp_path):
    source = shutil.copytree(
        REPO, tmp_path / "src", ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", "out*")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("lswap-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "lswap_core/cli/app.py" in names and "lswap_plugins/__init__.py" in names
    assert {"lswap_core/ops/csrc/upfirdn2d.cu", "lswap_core/ops/csrc/bias_act.cpp"} <= names  # kernel sources
    configs = {p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.yaml")}
    assert {f"lswap_configs/{c}" for c in configs} <= names
    assert not any(name.startswith(("plugins/", "tests/", "configs/")) for name in names)
