"""Which generator something was made with, so that it is used with that generator again.

A mixer only makes sense with the generator it was trained with: the same
architecture and the same weights (for a randomly initialised network, the
same initial values). `GeneratorRecord` stores what identifies that
generator and how to build it again; exports keep it among their records.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from .checkpoints import tensors_sha256
from .config import from_mapping
from .errors import CheckpointError, ConfigError, IncompatibleLatentError
from .interfaces import Generator
from .registry import load_generator


@dataclasses.dataclass
class GeneratorRecord:
    """A generator's identity and how it was built.

    :param state_sha256: `tensors_sha256` of its state dict: equal exactly
        when the weights are equal, however they were stored.
    :param weights: the export path or asset name it was loaded from; ``None``
        when it was built from a config without weights.
    :param preset: its preset, when built without weights.
    :param options: config values given beside the preset or weights.
    :param init_seed: the seed of its initial values, when built without weights.
    """

    name: str
    resolution: int
    num_ws: int
    w_dim: int
    z_dim: int
    state_sha256: str
    weights: str | None = None
    preset: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_seed: int | None = None

    @classmethod
    def of(
        cls,
        generator: Generator,
        *,
        weights: str | Path | None = None,
        preset: str | None = None,
        options: dict[str, Any] | None = None,
        init_seed: int | None = None,
    ) -> GeneratorRecord:
        """The record of ``generator``, built from ``weights`` or from ``preset``/``options`` and ``init_seed``."""
        return cls(
            name=generator.name,
            resolution=generator.resolution,
            num_ws=generator.num_ws,
            w_dim=generator.w_dim,
            z_dim=generator.z_dim,
            state_sha256=tensors_sha256(generator.state_dict()),
            weights=None if weights is None else str(weights),
            preset=preset,
            options=dict(options or {}),
            init_seed=None if weights is not None else init_seed,
        )

    @classmethod
    def from_data(cls, data: Any) -> GeneratorRecord:
        """Read a record stored as plain data; a malformed one is a `CheckpointError`."""
        try:
            return from_mapping(cls, data)
        except ConfigError as exc:
            raise CheckpointError(f"the stored generator record is malformed ({exc.message})") from None

    def describe(self) -> str:
        """How it was built, in a few words: ``stylegan2 from ffhq.safetensors``."""
        if self.weights is not None:
            return f"{self.name} from {self.weights}"
        built = f"{self.name} preset {self.preset}" if self.preset else f"{self.name} with its default config"
        return f"{built}, initialised from seed {self.init_seed}" if self.init_seed is not None else built

    def difference(self, generator: Generator) -> str | None:
        """What differs between ``generator`` and the recorded one, or ``None`` when it is the same."""
        if generator.name != self.name:
            return f"it is a {generator.name!r} generator, not {self.name!r}"
        recorded = (self.resolution, self.num_ws, self.w_dim, self.z_dim)
        found = (generator.resolution, generator.num_ws, generator.w_dim, generator.z_dim)
        if found != recorded:
            return (
                f"it renders {found[0]}² from {found[1]}×{found[2]} codes (z {found[3]}), "
                f"not {recorded[0]}² from {recorded[1]}×{recorded[2]} (z {recorded[3]})"
            )
        if tensors_sha256(generator.state_dict()) != self.state_sha256:
            return "its weights differ"
        return None

    def check(self, generator: Generator, *, what: str = "this mixer") -> None:
        """Raise `IncompatibleLatentError` unless ``generator`` is the recorded one."""
        difference = self.difference(generator)
        if difference is not None:
            raise IncompatibleLatentError(
                f"{what} was made with the generator {self.describe()}, and the one given differs: {difference}",
                hint="use that generator (omit --weights and --preset to rebuild it)",
            )

    def rebuild(self, device: str | torch.device | None = None) -> Generator:
        """Build the recorded generator again and check that it is the same.

        :raises CheckpointError: when its weights file is gone or now holds other weights.
        """
        if self.weights is not None:
            try:
                generator = load_generator(self.name, self.weights, device=device, **self.options)
            except CheckpointError as exc:
                raise CheckpointError(
                    f"the generator weights {self.weights} cannot be loaded ({exc.message})",
                    hint="pass --weights with the generator file the mixer was trained with",
                ) from None
        else:
            generator = load_generator(self.name, preset=self.preset, init_seed=self.init_seed, device=device, **self.options)
        if self.difference(generator) is not None:
            raise CheckpointError(
                f"rebuilding the generator {self.describe()} gave other weights than the recorded ones",
                hint="pass --weights with the generator file the mixer was trained with",
            )
        return generator
