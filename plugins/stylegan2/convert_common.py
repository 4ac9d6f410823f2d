"""What the StyleGAN2 converters share: building the config, checking filters, estimating ``w_avg``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lswap_core.errors import CheckpointError
from lswap_core.ops.upfirdn2d import setup_filter

from .config import StyleGAN2Config
from .networks import RESAMPLE_FILTER

W_AVG_SAMPLES = 10_000  # draws of z (seed 0) behind an estimated w_avg
W_AVG_NOTE = f"estimated as the mean W of {W_AVG_SAMPLES} samples of z (seed 0)"


def build_config(path: Path, values: Mapping[str, Any]) -> StyleGAN2Config:
    """A `StyleGAN2Config` from the values a file implies; invalid ones become a `CheckpointError`."""
    try:
        return StyleGAN2Config(**values)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} holds a generator lswap cannot build: {exc}") from None


def check_filter(path: Path, name: str, taps: Any, *, gain: float = 1.0) -> None:
    """Refuse a resampling filter other than the [1, 3, 3, 1] one the generator uses."""
    expected = setup_filter(RESAMPLE_FILTER) * gain
    found = torch.as_tensor(taps, dtype=torch.float32)
    if found.shape != expected.shape or not torch.allclose(found, expected, rtol=1e-5, atol=1e-6):
        raise CheckpointError(
            f"{path}: {name} is not the [1, 3, 3, 1] resampling filter lswap's StyleGAN2 uses",
            hint="only generators trained with the standard filter convert",
        )


def check_filter_option(path: Path, value: Any) -> None:
    """Refuse a ``resample_filter`` constructor argument other than [1, 3, 3, 1]."""
    if [float(v) for v in value] != [float(v) for v in RESAMPLE_FILTER]:
        raise CheckpointError(f"{path}: resample_filter {list(value)} is not supported; lswap uses [1, 3, 3, 1]")


# What interpreting the records of a damaged or hostile file raises (a list where a number was
# recorded, a 1-D tensor where a matrix belongs...): such a file is malformed, not a bug.
MALFORMED_RECORD_ERRORS = (TypeError, ValueError, AttributeError, LookupError, OverflowError, RuntimeError)


def malformed(path: Path, what: str, exc: BaseException) -> CheckpointError:
    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
    return CheckpointError(f"{path} holds a malformed {what} ({reason[:200]})", hint="pass the official file unmodified")


def check_shapes(path: Path, config: StyleGAN2Config, tensors: Mapping[str, Tensor], *, optional: tuple[str, ...] = ()) -> None:
    """Refuse tensors that are not exactly those of the generator ``config`` describes, before building it.

    The config comes from numbers recorded in the file, so a generator built from it could need far
    more memory than the file holds (a w_dim of 65536 is 17 GB per mapping layer; found by tests/fuzz).
    The expected shapes come from a generator built on fake tensors, which hold no memory.

    :param optional: tensors the file may lack (``mapping.w_avg``, estimated when missing).
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    from .generator import StyleGAN2Generator

    with FakeTensorMode():
        expected = {key: tuple(value.shape) for key, value in StyleGAN2Generator(config).state_dict().items()}
    missing = sorted(set(expected) - set(tensors) - set(optional))
    unexpected = sorted(set(tensors) - set(expected))
    misshapen = sorted(key for key in set(expected) & set(tensors) if tuple(tensors[key].shape) != expected[key])
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)):
        if keys:  # worded as load_state_strict words it
            problems.append(f"{label}: {', '.join(keys[:6])}" + (f" and {len(keys) - 6} more" if len(keys) > 6 else ""))
    if problems:
        raise CheckpointError(
            f"{path}: the tensors do not fit the generator its records describe ({'; '.join(problems)})",
            hint="pass the official file unmodified",
        )


def estimate_w_avg(config: StyleGAN2Config, tensors: Mapping[str, Tensor]) -> Tensor:
    """The mean W over `W_AVG_SAMPLES` seeded samples, for files that do not store it."""
    from .generator import StyleGAN2Generator

    generator = StyleGAN2Generator(config).eval()
    state = {**generator.state_dict(), **tensors}
    generator.load_state_dict(state, strict=True)
    return generator.mean_w(W_AVG_SAMPLES, rng=torch.Generator().manual_seed(0))


def config_data(config: StyleGAN2Config) -> dict[str, Any]:
    return dataclasses.asdict(config)
