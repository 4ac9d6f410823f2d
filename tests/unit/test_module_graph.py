"""The core's module graph: no import cycles (function-level imports count), no plugin imports,
and every module importable on its own in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lswap_core

CORE = Path(lswap_core.__file__).resolve().parent


def core_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = ["lswap_core", *path.relative_to(CORE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path) -> set[str]:
    """Every ``lswap*`` module ``name`` imports, at any level of the file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return {module for module in found if module.startswith("lswap")}


def core_graph() -> dict[str, set[str]]:
    modules = core_modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for module in imported_modules(name, path):
            while module and module not in modules:
                module = module.rpartition(".")[0]
            # A module importing its own package (or a package its own modules) is no edge of the graph.
            if module and module != name and not name.startswith(module + ".") and module != "lswap_core":
                targets.add(module)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_core_has_no_import_cycle():
    cycle = find_cycle(core_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_core_imports_no_plugin():
    for name, path in core_modules().items():
        plugins = sorted(module for module in imported_modules(name, path) if module.startswith("lswap_plugins"))
        assert not plugins, f"{name} imports {plugins}: model-specific code belongs in a plugin"


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_every_core_module_imports_alone_in_a_fresh_interpreter():
    # One fresh interpreter loads the third-party libraries once, then each core module is
    # imported alone in a forked child, with no other lswap module loaded before it.
    script = textwrap.dedent(
        """
        import os, sys, traceback
        import numpy, torch, yaml, pluggy, typer, rich, safetensors, PIL.Image, scipy.io  # third-party only
        failures = []
        for name in sys.argv[1:]:
            pid = os.fork()
            if pid == 0:
                try:
                    __import__(name)
                except BaseException:
                    traceback.print_exc()
                    os._exit(1)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            if status:
                failures.append(name)
        print("FAILED:" + ",".join(failures))
        """
    )
    names = sorted(name for name in core_modules() if not name.endswith(".__main__"))  # a script: importing it runs it
    result = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    failed = result.stdout.strip().splitlines()[-1].removeprefix("FAILED:")
    assert not failed, f"these modules fail to import alone: {failed}\n{result.stderr[-3000:]}"
