"""Named views and turntables of 3D-aware generators, as the commands take them."""

from __future__ import annotations

from torch import Tensor

from .errors import InputError
from .interfaces import Generator


def parse_views(generator: Generator, text: str) -> list[tuple[str, Tensor]]:
    """``"front,left"`` as ``(name, camera)`` pairs of ``generator``; an unknown name lists the known ones."""
    require_cameras(generator, "--views")
    views = generator.named_views
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise InputError("--views names no view", hint=f"choose from: {', '.join(views)}")
    unknown = [name for name in names if name not in views]
    if unknown:
        raise InputError(f"unknown view {unknown[0]!r} of generator {generator.name!r}", hint=f"choose from: {', '.join(views)}")
    return [(name, views[name]) for name in names]


def turntable(generator: Generator, frames: int) -> Tensor:
    """``frames`` cameras around the front view."""
    require_cameras(generator, "--turntable")
    if frames < 1:
        raise InputError(f"--turntable needs at least 1 frame, got {frames}", hint="e.g. --turntable 24")
    return generator.orbit_cameras(frames)


def require_cameras(generator: Generator, option: str) -> None:
    if not generator.supports_camera:
        raise InputError(
            f"{option} needs a 3D-aware generator; {generator.name!r} renders a single view",
            hint="use a generator with cameras, e.g. --generator stylenerf",
        )
