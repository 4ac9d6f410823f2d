"""Inversion files: the codes an inverter found for a photo and the generator tensors it tuned.

One safetensors export per inverted face (kind ``inversion``): tensor ``ws``
``(1, num_ws, w_dim)`` and, for inverters that tune the generator (PTI),
``tuned/<state_dict name>`` for each tensor they changed; records of the
generator it belongs to and of the inverter and its config. Loading it
checks the generator: tuned tensors are meaningless on any other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .checkpoints import read_export, save_export
from .errors import CheckpointError
from .generator_records import GeneratorRecord
from .interfaces import Generator, Inversion

KIND = "inversion"
TUNED_PREFIX = "tuned/"


@dataclasses.dataclass
class InversionFile:
    """An inversion read back, with what it was made with."""

    inversion: Inversion
    generator: GeneratorRecord
    inverter: str
    inverter_config: dict[str, Any]
    source: dict[str, Any]

    def apply(self, generator: Generator) -> Generator:
        """``generator`` with the tuned tensors loaded (a copy), after checking it is the recorded one."""
        self.generator.check(generator, what="this inversion")
        return self.inversion.apply(generator)


def save_inversion(
    path: str | Path,
    inversion: Inversion,
    *,
    generator: GeneratorRecord,
    inverter: str,
    inverter_config: Mapping[str, Any],
    source: Mapping[str, Any] | None = None,
) -> Path:
    """Write one inversion atomically; ``source`` says what was inverted (photo, face, alignment)."""
    tensors = {"ws": inversion.ws.detach()}
    for name, tensor in (inversion.generator_state or {}).items():
        tensors[TUNED_PREFIX + name] = tensor.detach()
    return save_export(
        path,
        kind=KIND,
        name=inverter,
        config=dict(inverter_config),
        tensors=tensors,
        records={"generator": dataclasses.asdict(generator), "source": dict(source or {})},
    )


def load_inversion(path: str | Path, *, device: str | torch.device = "cpu") -> InversionFile:
    """Read an inversion file written by `save_inversion` (``lswap invert``)."""
    export = read_export(path, device=device)
    if export.kind != KIND:
        raise CheckpointError(f"{path} holds a {export.kind} {export.name!r}, not an inversion", hint="pass a file `lswap invert` wrote")
    if "ws" not in export.tensors or "generator" not in export.records:
        raise CheckpointError(f"{path} is an incomplete inversion file (no codes or no generator record)", hint="invert the photo again")
    state = {name[len(TUNED_PREFIX) :]: tensor for name, tensor in export.tensors.items() if name.startswith(TUNED_PREFIX)}
    return InversionFile(
        inversion=Inversion(export.tensors["ws"], state or None),
        generator=GeneratorRecord.from_data(export.records["generator"]),
        inverter=export.name,
        inverter_config=export.config,
        source=dict(export.records.get("source") or {}),
    )
