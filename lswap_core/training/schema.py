"""The training config: what ``configs/train/*.yaml`` hold, and what a resumed run may change."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from ..config import from_mapping, to_data
from ..errors import CheckpointError, ConfigError
from ..losses import LossWeights
from ..precision import Precision

MAX_SEED = 2**63 - 1


def _finite(name: str, value: float, *, minimum: float | None = None, positive: bool = False) -> None:
    """Raise a `ValueError` naming ``name`` unless ``value`` is finite (and positive, or at least ``minimum``)."""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


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

    def __post_init__(self) -> None:
        if any(width < 1 for width in self.hidden):
            raise ValueError(f"hidden widths must be at least 1, got {list(self.hidden)}")
        _finite("residual_coefficient", self.residual_coefficient)


@dataclasses.dataclass
class SamplingConfig:
    truncation_psi: float = 1.0  # paper: untruncated; official code: 0.5
    truncation_cutoff: int | None = None  # official code: 8
    same_pair_probability: float = 0.125  # paper: 1/8; official code: 0.2
    noise_mode: Literal["random", "const", "none"] = "random"  # official code: random
    # 3D-aware generators: "pair" renders source, target and swap of a pair from one sampled
    # camera; "each" gives source and target their own (the swap takes the target's); "front"
    # renders every image from the front view.
    cameras: Literal["pair", "each", "front"] = "pair"

    def __post_init__(self) -> None:
        if not 0.0 <= self.same_pair_probability <= 1.0:
            raise ValueError(f"same_pair_probability must be in [0, 1], got {self.same_pair_probability}")
        _finite("truncation_psi", self.truncation_psi)
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise ValueError(f"truncation_cutoff must be at least 0, got {self.truncation_cutoff}")


@dataclasses.dataclass
class OptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01  # AdamW's default, as in the official code
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off

    def __post_init__(self) -> None:
        _finite("lr", self.lr, positive=True)
        for index, beta in enumerate(self.betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"betas[{index}] must be in [0, 1), got {beta}")
        _finite("weight_decay", self.weight_decay, minimum=0.0)
        _finite("grad_clip", self.grad_clip, minimum=0.0)


@dataclasses.dataclass
class RunConfig:
    steps: int = 200_000
    batch_size: int = 64  # global pairs per step, split over torchrun processes
    seed: int = 0
    precision: Precision = "fp32"  # bf16 and fp16 autocast the generator and face networks; fp16 scales the loss
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
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in 0..{MAX_SEED}, got {self.seed}")


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
# Sections that `--allow-changes` lets a resume change too (after a divergence): the run then
# differs from an uninterrupted one, and its metrics say so.
CHANGEABLE_SECTIONS = ("optim",)


@dataclasses.dataclass
class ResumedConfig:
    """The config a resumed run goes on with, and the settings it changed that alter its results.

    :param changes: ``{"optim.lr": (old, new)}`` for each such setting.
    """

    config: TrainConfig
    changes: dict[str, tuple[Any, Any]]


def merge_resumed_config(
    saved: dict[str, Any], requested: TrainConfig | None, path: Path, *, allow_changes: bool = False
) -> ResumedConfig:
    """The saved run's config, with the settings a resume may change taken from ``requested``.

    Run settings (steps, device, logging) may always change; with
    ``allow_changes`` the optimizer settings may too (they are reported in
    `ResumedConfig.changes`). Anything else must match.
    """
    try:
        config = from_mapping(TrainConfig, saved)
    except ConfigError as exc:
        raise CheckpointError(f"{path} holds a config this lswap cannot read ({exc.message})") from None
    if requested is None:
        return ResumedConfig(config, {})
    old, new = to_data(config), to_data(requested)
    differing = sorted(_differences(old, new))

    def free(key: str) -> bool:
        return key.startswith("train.") and key.split(".", 1)[1] in RESUMABLE_CHANGES

    def changeable(key: str) -> bool:
        return allow_changes and key.split(".", 1)[0] in CHANGEABLE_SECTIONS

    blocked = [key for key in differing if not free(key) and not changeable(key)]
    if blocked:
        hint = "resume with the run's own settings, or start a new run"
        if not allow_changes and all(key.split(".", 1)[0] in CHANGEABLE_SECTIONS for key in blocked):
            hint = "add --allow-changes to go on with new optimizer settings (the run then differs from an uninterrupted one)"
        raise CheckpointError(f"the resumed run was trained with different settings: {', '.join(blocked)}", hint=hint)
    changes = {key: (_lookup(old, key), _lookup(new, key)) for key in differing if not free(key)}
    merged = from_mapping(TrainConfig, {**old, "train": new["train"], **{section: new[section] for section in CHANGEABLE_SECTIONS if allow_changes}})
    return ResumedConfig(merged, changes)


def _lookup(data: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        data = data[part]
    return data


def _differences(a: Any, b: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _differences(a.get(key), b.get(key), f"{prefix}{key}.")
    elif a != b:
        yield prefix.rstrip(".")
