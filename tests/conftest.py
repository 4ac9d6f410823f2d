"""Shared fixtures: a clean plugin state per test, fake installed distributions."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lswap_core.plugins import reset_plugins

REPO = Path(__file__).resolve().parents[1]
ASSETS_ENV = "LSWAP_TEST_ASSETS"
# Real photos and face-network weights some tests use (never copied into the project).
SHARED_ASSETS = Path(os.environ.get(ASSETS_ENV) or REPO.parent / "shared" / "assets")
MISSING_ASSETS = "missing test assets:"  # how the reasons of skips for absent assets begin


def needs_assets(*relative: str) -> pytest.MarkDecorator:
    """Skip unless every named file or folder is under the test assets."""
    missing = [name for name in relative if not (SHARED_ASSETS / name).exists()]
    return pytest.mark.skipif(
        bool(missing), reason=f"{MISSING_ASSETS} {', '.join(missing)} not in {SHARED_ASSETS} (set {ASSETS_ENV})"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    count = sum(1 for report in skipped if MISSING_ASSETS in str(report.longrepr))
    terminalreporter.write_line(
        f"{count} test(s) skipped for missing assets (looked in {SHARED_ASSETS}; {ASSETS_ENV} points elsewhere)"
    )


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from unloaded plugins and no plugin-related environment."""
    for name in ("LSWAP_DISABLE_PLUGINS", "LSWAP_STRICT_PLUGINS", "LSWAP_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    reset_plugins()
    yield
    reset_plugins()


class FakeDistributions:
    """Writes importable modules plus ``*.dist-info`` folders, as pip would install them."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        monkeypatch.syspath_prepend(str(root))
        self._modules: list[str] = []

    def add(self, distribution: str, plugins: dict[str, str], version: str = "1.0") -> None:
        """Install ``distribution`` with one plugin module per entry ``{entry_point_name: source}``."""
        info = self.root / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
        lines = ["[lswap]"]
        for entry_name, source in plugins.items():
            module = f"{distribution.replace('-', '_')}_{entry_name.replace('-', '_')}"
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
            lines.append(f"{entry_name} = {module}")
            self._modules.append(module)
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()

    def forget_modules(self) -> None:
        for module in self._modules:
            sys.modules.pop(module, None)


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDistributions]:
    root = tmp_path / "site"
    root.mkdir()
    dists = FakeDistributions(root, monkeypatch)
    yield dists
    dists.forget_modules()
