"""The training config: what ``configs/train/*.yaml`` hold, and what a resumed run may change."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from ..config import from_mapping, to_data
from ..errors import CheckpointError, ConfigError
from ..losses import LossWeights


@dataclasses.dataclass
class ComponentSpec:
    """Which registered component to use and how to build it."""

    name: str
    weights: str | None = None  # an export path or a fetched asset name; None: random init from the run's seed
    preset: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class MixerSection:
    space: Literal["w+", "w", "z"] = "w+"
    hidden: tuple[int, ...] = (1024, 1024, 512, 512)
    residual_coefficient: float = 1.0


@dataclasses.dataclass
class SamplingConfig:
    truncation_psi: float = 1.0  # paper: untruncated; official code: 0.5
    truncation_cutoff: int | None = None  # official code: 8
    same_pair_probability: float = 0.125  # paper: 1/8; official code: 0.2
    noise_mode: Literal["random", "const", "none"] = "random"  # official code: random

    def __post_init__(self) -> None:
        if not 0.0 <= self.same_pair_probability <= 1.0:
            raise ValueError("same_pair_probability must be in [0, 1]")


@dataclasses.dataclass
class OptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01  # AdamW's default, as in the official code
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off


@dataclasses.dataclass
class RunConfig:
    steps: int = 200_000
    batch_size: int = 64  # global pairs per step, split over torchrun processes
    seed: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocasts generator and face networks
    device: str = "auto"
    log_every: int = 10
    sample_every: int = 1000  # image grids of the validation pairs
    validate_every: int = 1000
    validation_pairs: int = 16
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "sample_every", "validate_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.validation_pairs < 1 or self.keep_checkpoints < 1:
            raise ValueError("validation_pairs and keep_checkpoints must be at least 1")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; ``configs/train/*.yaml`` fill it."""

    generator: ComponentSpec
    embedder: ComponentSpec
    shape_model: ComponentSpec | None = None
    mixer: MixerSection = dataclasses.field(default_factory=MixerSection)
    sampling: SamplingConfig = dataclasses.field(default_factory=SamplingConfig)
    loss: LossWeights = dataclasses.field(default_factory=LossWeights)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: RunConfig = dataclasses.field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.mixer.space != "w+" and self.sampling.truncation_cutoff is not None:
            raise ValueError("truncation_cutoff makes W+ rows differ; it needs mixer.space w+")


# Run settings that may change when a run is resumed; everything else must match.
RESUMABLE_CHANGES = {"steps", "device", "log_every", "sample_every", "validate_every", "checkpoint_every", "keep_checkpoints"}


def merge_resumed_config(saved: dict[str, Any], requested: TrainConfig | None, path: Path) -> TrainConfig:
    """The saved run's config, with only the run settings a resume may change taken from ``requested``."""
    try:
        config = from_mapping(TrainConfig, saved)
    except ConfigError as exc:
        raise CheckpointError(f"{path} holds a config this lswap cannot read ({exc.message})") from None
    if requested is None:
        return config
    differing = sorted(_differences(to_data(config), to_data(requested)))
    blocked = [key for key in differing if not (key.startswith("train.") and key.split(".", 1)[1] in RESUMABLE_CHANGES)]
    if blocked:
        raise CheckpointError(
            f"the resumed run was trained with different settings: {', '.join(blocked)}",
            hint="resume with the run's own config (omit --config), or start a new run",
        )
    for key in differing:
        setattr(config.train, key.split(".", 1)[1], getattr(requested.train, key.split(".", 1)[1]))
    return config


def _differences(a: Any, b: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _differences(a.get(key), b.get(key), f"{prefix}{key}.")
    elif a != b:
        yield prefix.rstrip(".")
