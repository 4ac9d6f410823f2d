"""Golden fixtures: tensors recorded once from the official implementations.

Each fixture is one safetensors file in ``tests/fixtures/`` whose tensors are
grouped by a prefix:

- ``state/<key>``: the official network's state dict under its official names;
- ``input/<name>``: what was fed to it (noise, codes, images);
- ``output/<name>``: what the official code returned (images, codes,
  embeddings, gradients).

Its metadata entry ``golden`` is JSON: the official repository and commit,
the constructor arguments, and anything else needed to rebuild the official
file around the state dict. ``tests/fixtures/README.md`` says how each was
made. Tests wrap ``state`` in the official file format, load it through
lswap's converter, run ``input`` and compare with ``output``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GROUPS = ("state", "input", "output")


@dataclasses.dataclass
class Golden:
    """One recorded fixture."""

    name: str
    state: dict[str, torch.Tensor]
    inputs: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]
    meta: dict[str, Any]


def load_golden(name: str) -> Golden:
    """Read ``tests/fixtures/<name>.safetensors``."""
    path = FIXTURES / f"{name}.safetensors"
    groups: dict[str, dict[str, torch.Tensor]] = {group: {} for group in GROUPS}
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads((handle.metadata() or {})["golden"])
        for key in handle.keys():  # noqa: SIM118 - safe_open has no items()
            group, _, name_in_group = key.partition("/")
            # A copy: tensors read from the file may sit at unaligned addresses, which changes CPU rounding.
            groups[group][name_in_group] = handle.get_tensor(key).clone()
    return Golden(name, groups["state"], groups["input"], groups["output"], meta)
