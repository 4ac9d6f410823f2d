"""Editing codes from the command line: ``NAME=STRENGTH`` edits, strength ranges, rows to edit."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import InputError
from .interfaces import Editor, Generator
from .layers import LAYER_GROUPS, layer_mask


def parse_edit(text: str) -> tuple[str, float]:
    """``'smile=+2'`` -> ``('smile', 2.0)``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InputError(f"--edit {text!r} is not of the form DIRECTION=STRENGTH", hint="e.g. --edit smile=+2")
    return name.strip(), _strength(value, f"--edit {text!r}")


def parse_steps(text: str) -> list[float]:
    """``'-3:3:7'`` -> seven strengths from -3 to 3."""
    parts = text.split(":")
    if len(parts) != 3:
        raise InputError(f"--steps {text!r} is not START:STOP:COUNT", hint="e.g. --steps -3:3:7")
    start, stop = (_strength(part, f"--steps {text!r}") for part in parts[:2])
    try:
        count = int(parts[2])
    except ValueError:
        raise InputError(f"--steps {text!r}: COUNT must be a whole number") from None
    if count < 1:
        raise InputError(f"--steps {text!r}: COUNT must be at least 1")
    return [start] if count == 1 else torch.linspace(start, stop, count, dtype=torch.float64).tolist()


def parse_rows(text: str | None, generator: Generator) -> list[int] | None:
    """W+ rows to edit: ``None`` (the editor's own), layer groups (``coarse,middle``) or rows (``0-3,8``)."""
    if text is None or text.strip() == "all":
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names and all(name in LAYER_GROUPS for name in names):
        mask = layer_mask(generator.layer_resolutions, names)
        return [index for index, selected in enumerate(mask.tolist()) if selected]
    rows: list[int] = []
    for part in names:
        low, sep, high = part.partition("-")
        try:
            first, last = int(low), int(high) if sep else int(low)
        except ValueError:
            raise InputError(
                f"--layers {text!r}: {part!r} is neither a layer group nor a row",
                hint=f"use groups ({', '.join(LAYER_GROUPS)}) or rows such as 0-7", 
            ) from None
        if not 0 <= first <= last < generator.num_ws:
            raise InputError(f"--layers {text!r}: rows go from 0 to {generator.num_ws - 1}", hint=f"generator {generator.name!r} has {generator.num_ws} rows")
        rows.extend(range(first, last + 1))
    return sorted(set(rows))


def apply_edits(editor: Editor, ws: Tensor, edits: list[tuple[str, float]], rows: list[int] | None = None) -> Tensor:
    """``ws`` moved along each ``(direction, strength)`` in turn."""
    for direction, strength in edits:
        editor.check_direction(direction)
        ws = editor.edit(ws, direction, strength, rows)
    return ws


def _strength(value: str, where: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{where}: {value.strip()!r} is not a number") from None
    if not math.isfinite(number):
        raise InputError(f"{where}: the strength must be a finite number, got {value.strip()}")
    return number
