"""Reduced precision for rendering and judging images: ``fp32``, ``bf16`` or ``fp16`` autocast.

The networks that render and look at images (generator, embedders, shape
models, perceptual networks) run under autocast; the latent mixer always runs
in float32 (`full_precision`), as do the optimisers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from .errors import InputError

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(value: str) -> Precision:
    if value not in PRECISIONS:
        raise InputError(f"unknown precision {value!r}", hint=f"use one of {', '.join(PRECISIONS)}")
    return value  # type: ignore[return-value]


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager[None]:
    """Autocast to ``precision`` on ``device`` (nothing for ``fp32``)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """float32 inside, whatever autocast is around (the mixer keeps its float32 arithmetic)."""
    with torch.autocast(device.type, enabled=False):
        yield
