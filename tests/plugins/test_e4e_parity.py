"""The e4e encoder against codes recorded from the official Encoder4Editing, at full size.

``tests/fixtures/e4e.safetensors`` holds what the official code returned
(omertov/encoder4editing, see ``tests/fixtures/README.md``) for an input and
weights drawn by the keyed rule below, but not the weights themselves (267 M
numbers): each tensor is drawn again here from its key name, so the fixture
stays small. The probes in the fixture check that this rule draws what it
drew when the fixture was recorded.
"""

from __future__ import annotations

import functools
import math
import time
import zlib

import pytest
import torch
from torch import Tensor

from lswap_plugins.e4e.config import E4EConfig
from lswap_plugins.e4e.inverter import E4EInverter
from tests.golden import Golden, load_golden

# Absolute, fp32 on the CPU: the brief's 1e-4; the largest difference measured is in tests/fixtures/README.md.
TOLERANCE = {"rtol": 0.0, "atol": 1e-4}
STYLE_COUNTS = {1024: 18, 256: 14}


# -- the keyed rule ------------------------------------------------------------------------------


def keyed_rng(key: str) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))


def keyed_tensor(key: str, shape: tuple[int, ...]) -> Tensor:
    """Standard normal values drawn from the generator of ``key``."""
    return torch.randn(shape, generator=keyed_rng(key))


def keyed_weight(key: str, shape: tuple[int, ...]) -> Tensor:
    """The value of state-dict entry ``key``: a distribution chosen by its name, so that
    activations stay of order one through the 24 residual units (W std about 0.28)."""
    rng, shape = keyed_rng(key), tuple(shape)
    if key.endswith("running_var"):
        return torch.rand(shape, generator=rng) + 0.5
    if key.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=rng)
    if key.endswith("linear.weight"):  # EqualLinear scales by 1/sqrt(fan_in) itself
        return torch.randn(shape, generator=rng)
    if len(shape) >= 2:
        return torch.randn(shape, generator=rng) * math.sqrt(1.0 / math.prod(shape[1:]))
    if key.endswith("res_layer.4.weight"):  # the last batch norm of each residual branch
        return 0.3 + 0.05 * torch.randn(shape, generator=rng)
    if key.endswith("weight"):
        return 1 + 0.1 * torch.randn(shape, generator=rng)
    if key.endswith("bias"):
        return 0.1 * torch.randn(shape, generator=rng)
    raise KeyError(f"no keyed rule for {key}")


def keyed_encoder_state(shapes: dict[str, tuple[int, ...]]) -> dict[str, Tensor]:
    """Encoder tensors (official names, without ``encoder.``) by the keyed rule."""
    return {
        key: torch.zeros(shape, dtype=torch.long) if key.endswith("num_batches_tracked") else keyed_weight(key, shape)
        for key, shape in shapes.items()
    }


# -- fixtures ------------------------------------------------------------------------------------


@functools.cache
def golden() -> Golden:
    return load_golden("e4e")


def official_shapes(size: int) -> dict[str, tuple[int, ...]]:
    return {key: tuple(shape) for key, shape in golden().meta[f"keys_{size}"]}


@pytest.fixture(scope="module")
def full_state() -> dict[str, Tensor]:
    """The keyed encoder of the 1024 network; the 256 one has the same tensors minus heads 14-17.
    Module-scoped: a gigabyte, freed once this file's tests are done."""
    return keyed_encoder_state(official_shapes(1024))


def keyed_input() -> Tensor:
    return keyed_tensor("e4e_input", (2, 3, 256, 256)).clamp(-1, 1)


def keyed_inverter(size: int, full_state: dict[str, Tensor]) -> E4EInverter:
    """The full-size inverter with the keyed weights, built without initialising 267 M numbers first."""
    rows = STYLE_COUNTS[size]
    with torch.device("meta"):
        inverter = E4EInverter(E4EConfig(style_count=rows))
    shapes = official_shapes(size)
    state = {f"encoder.{key}": value for key, value in full_state.items() if key in shapes}
    state["latent_avg"] = keyed_tensor(f"latent_avg_{size}", (rows, 512))
    inverter.load_state_dict(state, strict=True, assign=True)
    return inverter.eval()


@pytest.fixture(scope="module")
def run_256(full_state) -> dict[str, object]:
    """One pass of the 256 encoder: its codes, the body's taps and the time taken."""
    inverter = keyed_inverter(256, full_state)
    taps: list[Tensor] = []
    hooks = [
        inverter.encoder.body[i].register_forward_hook(lambda m, i, out: taps.append(out))
        for i in inverter.encoder.tap_units
    ]
    start = time.perf_counter()
    codes = inverter.encode(keyed_input())
    seconds = time.perf_counter() - start
    for hook in hooks:
        hook.remove()
    return {"codes": codes, "taps": taps, "seconds": seconds}


def encode_1024(full_state: dict[str, Tensor]) -> dict[str, object]:
    inverter = keyed_inverter(1024, full_state)
    start = time.perf_counter()
    codes = inverter.encode(keyed_input())
    return {"codes": codes, "seconds": time.perf_counter() - start}


# -- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1024, 256])
def test_parameter_names_and_shapes_are_the_official_ones(size):
    with torch.device("meta"):
        encoder = E4EInverter(E4EConfig(style_count=STYLE_COUNTS[size])).encoder
    ours = {key: tuple(value.shape) for key, value in encoder.state_dict().items()}
    assert list(ours.items()) == list(official_shapes(size).items())  # the same keys, in the same order
    assert sum(p.numel() for p in encoder.parameters()) == golden().meta[f"params_{size}"]


def test_the_keyed_rule_draws_what_the_fixture_was_recorded_with():
    recorded = golden().inputs
    for key in golden().meta["probes"]:
        shape = official_shapes(1024)[key]
        torch.testing.assert_close(keyed_weight(key, shape).reshape(-1)[:16], recorded[f"probe.{key}"], rtol=0, atol=0)
    for size, rows in STYLE_COUNTS.items():
        drawn = keyed_tensor(f"latent_avg_{size}", (rows, 512)).reshape(-1)[:16]
        torch.testing.assert_close(drawn, recorded[f"probe.latent_avg_{size}"], rtol=0, atol=0)
    torch.testing.assert_close(keyed_input().reshape(-1)[::4099][:256], recorded["probe.x"], rtol=0, atol=0)


def test_the_body_taps_are_the_official_c1_c2_c3(run_256):
    c1, c2, c3 = run_256["taps"]
    expected = golden().outputs
    torch.testing.assert_close(c1[:, :1], expected["c1"], **TOLERANCE)
    torch.testing.assert_close(c2[:, :2], expected["c2"], **TOLERANCE)
    torch.testing.assert_close(c3[:, :4], expected["c3"], **TOLERANCE)


def check_codes(size: int, run: dict[str, object]) -> None:
    codes, expected = run["codes"], golden().outputs[f"codes_{size}"]
    assert isinstance(codes, Tensor) and codes.shape == expected.shape == (2, STYLE_COUNTS[size], 512)
    difference = (codes - expected).abs().max().item()
    print(
        f"e4e {size}: max abs difference {difference:.3g} (codes std {expected.std():.3f}), "
        f"forward {run['seconds']:.2f} s"
    )
    torch.testing.assert_close(codes, expected, **TOLERANCE)


def test_codes_equal_the_official_encoder_256(run_256):
    check_codes(256, run_256)


@pytest.mark.slow
def test_codes_equal_the_official_encoder_1024(full_state):
    check_codes(1024, encode_1024(full_state))
