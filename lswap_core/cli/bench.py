"""``lswap bench``: the benchmarks under ``benchmarks/`` (installed as ``lswap_benchmarks``)."""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    help="Benchmarks: each prints timings beside a baseline measured in the same run.", no_args_is_help=True
)


def _register_benchmarks() -> None:
    try:
        package = importlib.import_module("lswap_benchmarks")
    except ModuleNotFoundError:  # a partial install without benchmarks
        return
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name == "common" or module_info.name.startswith("_"):
            continue  # helpers (they import torch); benchmark modules import them inside their commands
        module = importlib.import_module(f"lswap_benchmarks.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_benchmarks()
