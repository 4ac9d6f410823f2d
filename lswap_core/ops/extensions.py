"""Compiling the CUDA kernels of `lswap_core.ops` on first use.

A kernel is built with ninja through ``torch.utils.cpp_extension`` the first
time a CUDA tensor reaches its op, never at import. Builds are cached by a
hash of the kernel sources, the torch and CUDA versions and the GPU
architecture, under ``$LSWAP_HOME/extensions/`` when ``LSWAP_HOME`` is set,
else under torch's extension folder (``$TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``) in ``lswap/``. Each build runs in a temporary
folder beside its final place and is renamed into place only when complete,
so an interrupted build or two processes building at once never leave a
half-built kernel behind.

When a kernel cannot be built (a CPU-only torch, no CUDA toolkit or ninja,
a compiler error) the op warns once and uses its PyTorch implementation.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import tempfile
import threading
import warnings
from typing import Any
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import torch

SOURCE_DIR = Path(__file__).parent / "csrc"

_modules: dict[str, ModuleType | None] = {}
_failures: dict[str, str] = {}  # kernel name -> why it could not be built
_warned: set[str] = set()
_lock = threading.Lock()


class KernelUnavailable(RuntimeError):
    """A CUDA kernel was required (``impl="cuda"``) but cannot be built or used."""


def extension_root() -> Path:
    """Folder holding the compiled kernels, one sub-folder per build."""
    home = os.environ.get("LSWAP_HOME")
    if home:
        return Path(home).expanduser() / "extensions"
    torch_root = os.environ.get("TORCH_EXTENSIONS_DIR")
    return (Path(torch_root) if torch_root else Path.home() / ".cache" / "torch_extensions") / "lswap"


def unavailable_reason() -> str | None:
    """Why CUDA kernels cannot be built here, or ``None`` when they can."""
    if torch.version.cuda is None:
        return "this torch build has no CUDA support"
    if not torch.cuda.is_available():
        return "no CUDA device is visible"
    from torch.utils.cpp_extension import CUDA_HOME, is_ninja_available

    if CUDA_HOME is None:
        return "no CUDA toolkit found (install nvcc or set CUDA_HOME)"
    if not is_ninja_available():
        return "ninja is not installed"
    return None


def build_key(sources: Sequence[Path]) -> str:
    """Hash of everything a build depends on: the sources, torch, CUDA and the GPU architecture."""
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(f"torch {torch.__version__} cuda {torch.version.cuda}".encode())
    if torch.cuda.is_available():
        digest.update(str(torch.cuda.get_device_capability()).encode())
    return digest.hexdigest()[:16]


def install_cached(target: Path, build: Callable[[Path], ModuleType | None]) -> tuple[Path, ModuleType | None]:
    """Make sure folder ``target`` exists, filling it with ``build(temporary_folder)`` if not.

    :returns: the folder and, when this call built it, what ``build`` returned.
    """
    if target.is_dir():
        return target, None
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        built = build(temp)
        try:
            os.rename(temp, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another process
                raise
        return target, built
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)


def load_kernel(name: str, sources: Sequence[str], *, required: bool = False) -> ModuleType | None:
    """The compiled extension ``name`` built from ``csrc/`` files, or ``None``.

    :param required: raise `KernelUnavailable` instead of warning when it
        cannot be built.
    """
    with _lock:
        if name not in _modules:
            try:
                _modules[name] = _build_and_import(name, [SOURCE_DIR / source for source in sources])
            except Exception as exc:  # a failed build must never break the op: it has a PyTorch path
                _modules[name] = None
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                _failures[name] = reason
                if reason not in _warned and not required:
                    _warned.add(reason)
                    warnings.warn(
                        f"lswap: CUDA kernels are unavailable ({reason}); using the PyTorch implementation",
                        RuntimeWarning,
                        stacklevel=3,
                    )
        module = _modules[name]
    if module is None and required:
        raise KernelUnavailable(f"the CUDA kernel {name} is unavailable: {_failures.get(name, 'unknown reason')}")
    return module



def _build_and_import(name: str, sources: list[Path]) -> ModuleType:
    reason = unavailable_reason()
    if reason is not None:
        raise KernelUnavailable(reason)
    module_name = f"lswap_{name}_{build_key(sources)}"
    folder, built = install_cached(extension_root() / module_name, lambda temp: _compile(module_name, sources, temp))
    return built if built is not None else _import(module_name, folder)


def _compile(module_name: str, sources: list[Path], folder: Path) -> ModuleType:
    from torch.utils.cpp_extension import load

    return load(
        name=module_name,
        sources=[str(source) for source in sources],
        build_directory=str(folder),
        extra_cflags=["-O3"],
        extra_cuda_cflags=["-O3"],
        verbose=False,
    )


def _import(module_name: str, folder: Path) -> ModuleType:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES + [".so", ".pyd"]:
        library = folder / f"{module_name}{suffix}"
        if library.is_file():
            spec = importlib.util.spec_from_file_location(module_name, library)
            if spec is None or spec.loader is None:
                break
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise KernelUnavailable(f"{folder} holds no built library; delete the folder to rebuild")


def reset() -> None:
    """Forget loaded kernels and warnings (for tests)."""
    with _lock:
        _modules.clear()
        _failures.clear()
        _warned.clear()


def kernel_for(x: Any, impl: str, name: str) -> ModuleType | None:
    """The CUDA extension ``name`` for tensor ``x`` under ``impl``, or ``None`` for the PyTorch path.

    ``impl``: ``"auto"`` (the kernel for CUDA tensors when it builds, else
    PyTorch with one warning), ``"ref"`` (always PyTorch) or ``"cuda"`` (the
    kernel or `KernelUnavailable`). Sources are ``csrc/<name>.cpp`` and ``.cu``.
    """
    if impl not in ("auto", "ref", "cuda"):
        raise ValueError(f"impl must be 'auto', 'ref' or 'cuda', got {impl!r}")
    if impl == "cuda" and not x.is_cuda:
        raise KernelUnavailable("impl='cuda' needs a CUDA tensor")
    if impl == "ref" or not x.is_cuda:
        return None
    return load_kernel(name, [f"{name}.cpp", f"{name}.cu"], required=impl == "cuda")
