"""CUDA kernels: built lazily, cached by source hash, installed atomically, one warning and a fallback otherwise."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from lswap_core.ops import extensions
from lswap_core.ops.bias_act import ACTIVATIONS, bias_act
from lswap_core.ops.upfirdn2d import setup_filter, upfirdn2d

KERNELS = {"upfirdn2d": ["upfirdn2d.cpp", "upfirdn2d.cu"], "bias_act": ["bias_act.cpp", "bias_act.cu"]}


@pytest.fixture(autouse=True)
def fresh_kernels(tmp_path, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    extensions.reset()
    yield
    extensions.reset()


def test_importing_and_running_the_ops_on_cpu_compiles_nothing():
    code = (
        "import sys, warnings, torch\n"
        "warnings.simplefilter('error')\n"
        "from lswap_core.ops import extensions\n"
        "from lswap_core.ops.upfirdn2d import upsample2d, setup_filter\n"
        "from lswap_core.ops.bias_act import bias_act\n"
        "from lswap_core.ops.conv2d_resample import conv2d_resample\n"
        "x = torch.randn(1, 2, 4, 4)\n"
        "upsample2d(x, setup_filter([1, 3, 3, 1])); bias_act(x, act='lrelu')\n"
        "assert 'torch.utils.cpp_extension' not in sys.modules, 'the build machinery was imported'\n"
        "assert not extensions._modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_unbuildable_kernels_warn_once_and_the_ops_fall_back(monkeypatch):
    reason = "no CUDA toolkit found (install nvcc or set CUDA_HOME)"
    monkeypatch.setattr(extensions, "unavailable_reason", lambda: reason)
    with pytest.warns(RuntimeWarning, match="no CUDA toolkit found") as caught:
        for name, sources in KERNELS.items():
            assert extensions.load_kernel(name, sources) is None
            assert extensions.load_kernel(name, sources) is None
    assert len(caught) == 1  # one warning for the reason, however many kernels and calls


def test_this_machine_reports_why_it_cannot_build():
    reason = extensions.unavailable_reason()
    if torch.cuda.is_available() and reason is None:
        pytest.skip("this machine can build the kernels")
    assert isinstance(reason, str) and reason
    with pytest.warns(RuntimeWarning, match="CUDA kernels are unavailable"):
        assert extensions.load_kernel("upfirdn2d", KERNELS["upfirdn2d"]) is None


def test_requiring_a_kernel_raises_instead_of_falling_back(monkeypatch):
    monkeypatch.setattr(extensions, "unavailable_reason", lambda: "no CUDA device is visible")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(extensions.KernelUnavailable, match="no CUDA device"):
            extensions.load_kernel("bias_act", KERNELS["bias_act"], required=True)
    with pytest.raises(extensions.KernelUnavailable, match="CUDA tensor"):
        upfirdn2d(torch.ones(1, 1, 4, 4), None, impl="cuda")
    with pytest.raises(extensions.KernelUnavailable, match="CUDA tensor"):
        bias_act(torch.ones(2, 2), impl="cuda")


def test_a_failed_build_falls_back_and_leaves_nothing_behind(monkeypatch, tmp_path):
    def broken_compile(module_name, sources, folder):
        (folder / "half-built.o").write_bytes(b"\x7fELF")
        raise RuntimeError("Error building extension\nnvcc fatal: unsupported gpu architecture 'compute_120'")

    monkeypatch.setattr(extensions, "unavailable_reason", lambda: None)
    monkeypatch.setattr(extensions, "_compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="unsupported gpu architecture"):
        assert extensions.load_kernel("upfirdn2d", KERNELS["upfirdn2d"]) is None
    root = extensions.extension_root()
    assert root == tmp_path / "home" / "extensions"
    assert not any(root.iterdir()), f"left behind: {list(root.iterdir())}"


def test_builds_are_cached_and_installed_atomically(tmp_path):
    calls = []

    def build(folder: Path):
        calls.append(folder)
        (folder / "kernel.so").write_bytes(b"built")
        return "module"

    target = tmp_path / "lswap_upfirdn2d_0123"
    assert extensions.install_cached(target, build) == (target, "module")
    assert (target / "kernel.so").read_bytes() == b"built"
    assert extensions.install_cached(target, build) == (target, None)  # cached: not rebuilt
    assert len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]

    def interrupted(folder: Path):
        (folder / "partial.o").write_bytes(b"")
        raise KeyboardInterrupt

    other = tmp_path / "lswap_bias_act_4567"
    with pytest.raises(KeyboardInterrupt):
        extensions.install_cached(other, interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]

    def loses_the_race(folder: Path):
        (folder / "kernel.so").write_bytes(b"mine")
        other.mkdir()  # another process finished first
        (other / "kernel.so").write_bytes(b"theirs")
        return "module"

    assert extensions.install_cached(other, loses_the_race) == (other, "module")
    assert (other / "kernel.so").read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, other.name])


def test_the_build_key_follows_the_sources(tmp_path):
    source = tmp_path / "k.cu"
    source.write_text("// v1\n")
    first = extensions.build_key([source])
    assert extensions.build_key([source]) == first
    source.write_text("// v2\n")
    assert extensions.build_key([source]) != first


def test_the_kernel_sources_ship_with_the_package():
    for sources in KERNELS.values():
        for name in sources:
            assert (extensions.SOURCE_DIR / name).is_file()
    assert (extensions.SOURCE_DIR / "common.h").is_file()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc")
@pytest.mark.parametrize("source", ["upfirdn2d.cu", "bias_act.cu"])
def test_the_kernels_compile_with_nvcc(tmp_path, source):
    from torch.utils.cpp_extension import include_paths

    command = ["nvcc", "-std=c++17", "-c", str(extensions.SOURCE_DIR / source), "-o", str(tmp_path / "k.o")]
    command += [f"-I{path}" for path in include_paths()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# -- on a machine with a GPU: the kernels against the PyTorch paths ------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize(("up", "down", "pad"), [(1, 1, 1), (2, 1, [2, 1, 2, 1]), (1, 2, 1), (2, 2, [1, 2, 1, 2])])
@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 2, 3, 4, 4, 3, 2, 1]])
def test_cuda_upfirdn2d_matches_the_reference(up, down, pad, taps):
    f = setup_filter(taps, device="cuda")
    x = torch.randn(2, 3, 16, 12, device="cuda", requires_grad=True)
    expected = upfirdn2d(x, f, up=up, down=down, padding=pad, impl="ref")
    result = upfirdn2d(x, f, up=up, down=down, padding=pad, impl="cuda")
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(expected)
    (expected_grad,) = torch.autograd.grad(expected, x, grad)
    (result_grad,) = torch.autograd.grad(result, x, grad)
    torch.testing.assert_close(result_grad, expected_grad, rtol=1e-5, atol=1e-5)


@cuda
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_cuda_bias_act_matches_the_reference(act):
    x = torch.randn(2, 5, 6, 7, device="cuda", requires_grad=True)
    b = torch.randn(5, device="cuda", requires_grad=True)
    expected = bias_act(x, b, act=act, clamp=1.5, impl="ref")
    result = bias_act(x, b, act=act, clamp=1.5, impl="cuda")
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(expected)
    for got, want in zip(torch.autograd.grad(result, (x, b), grad), torch.autograd.grad(expected, (x, b), grad)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
