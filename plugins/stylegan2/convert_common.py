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


def estimate_w_avg(config: StyleGAN2Config, tensors: Mapping[str, Tensor]) -> Tensor:
    """The mean W over `W_AVG_SAMPLES` seeded samples, for files that do not store it."""
    from .generator import StyleGAN2Generator

    generator = StyleGAN2Generator(config).eval()
    state = {**generator.state_dict(), **tensors}
    generator.load_state_dict(state, strict=True)
    return generator.mean_w(W_AVG_SAMPLES, rng=torch.Generator().manual_seed(0))


def config_data(config: StyleGAN2Config) -> dict[str, Any]:
    return dataclasses.asdict(config)
