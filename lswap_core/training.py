"""Training the latent mixer on randomly sampled codes (paper, "Training Procedure").

Each step draws source and target ``z ~ N(0, I)`` (the same code for both
with probability 1/8), maps them to W (optionally truncated) and so to W+,
renders both with the frozen generator and embeds the source without
gradients, mixes the codes, renders the swap with gradients flowing through
the generator into the mixer only, and minimises
``L_id + λ·L_lp + μ·L_shape`` with AdamW and gradient clipping.

Every random draw of step ``k`` is seeded from ``(seed, k)``, so a resumed
run reproduces an uninterrupted one, and a ``torchrun`` run over several
processes sees the same global batch as a single process (each rank takes
its slice; the gradients are averaged over processes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .checkpoints import (
    ResumeState,
    atomic_write_text,
    capture_rng_state,
    load_resume_state,
    save_resume_state,
)
from .config import dump_config, from_mapping, to_data
from .devices import resolve_device
from .errors import CheckpointError, ConfigError, InputError, LswapError
from .imaging import image_grid, save_image
from .interfaces import Generator, IdentityEmbedder, NoiseMode, ShapeModel
from .latents import LatentSpace
from .losses import LatentSwapLoss, LossWeights
from .mixer import mixer_for, save_mixer
from .progress import progress_bar
from .registry import load_embedder, load_generator, load_shape_model

# -- config ----------------------------------------------------------------------------------


@dataclasses.dataclass
class ComponentSpec:
    """Which registered component to use and how to build it."""

    name: str
    weights: str | None = None  # an export path or a fetched asset name; None: random init
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


class TrainingError(LswapError):
    """Training cannot go on (a non-finite loss, an unusable output folder)."""


class TrainingInterrupted(LswapError):
    """Ctrl-C: the run stopped after saving a resume state."""


# -- the run's folder -------------------------------------------------------------------------


@dataclasses.dataclass
class RunFolder:
    """Layout of a training run's output folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def export(self) -> Path:
        return self.root / "mixer.safetensors"

    def resume_states(self) -> list[Path]:
        """Saved resume states, oldest first."""
        return sorted(self.checkpoints.glob("step-*.pt"))

    def prepare_new(self) -> None:
        """Create the folder for a fresh run; refuse one that holds a run already."""
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"{self.root} exists and is not a folder", hint="choose another --out")
        if self.root.is_dir() and (self.config.exists() or self.resume_states()):
            raise InputError(
                f"{self.root} already holds a training run", hint=f"continue it with --resume {self.root}, or use another --out"
            )
        self._make_writable()

    def _make_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(exist_ok=True)
            self.samples.mkdir(exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise InputError(
                f"cannot write to {self.root}: {exc.strerror or exc}", hint="choose a writable --out folder"
            ) from None

    def latest_state(self) -> Path:
        self._make_writable()
        states = self.resume_states()
        if not states:
            raise CheckpointError(f"{self.checkpoints} holds no resume state", hint="start a new run with --out")
        return states[-1]


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl`` file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- distributed --------------------------------------------------------------------------


@dataclasses.dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls) -> Distributed:
        """Read torchrun's variables; a single process when they are absent."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

    def setup(self, device: torch.device) -> None:
        if self.enabled and not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on any process."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        torch.distributed.all_reduce(value)
        return bool(value.item() > 0)

    def broadcast_parameters(self, module: nn.Module) -> None:
        """Give every process the main process's parameters."""
        if self.enabled:
            for parameter in module.parameters():
                torch.distributed.broadcast(parameter.data, src=0)

    def average_gradients(self, module: nn.Module) -> None:
        """Average gradients over processes (each process's loss is a mean over its slice of the batch).

        Done by hand rather than with DistributedDataParallel, because the mixer
        writes its gradients in place instead of handing them to autograd's hooks.
        """
        if not self.enabled:
            return
        for parameter in module.parameters():
            if parameter.grad is not None:
                torch.distributed.all_reduce(parameter.grad)
                parameter.grad.div_(self.world_size)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average scalar metrics over processes."""
        if not self.enabled:
            return values
        keys = sorted(values)
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        torch.distributed.all_reduce(tensor)
        return {k: float(v) / self.world_size for k, v in zip(keys, tensor.tolist())}


# -- sampling -----------------------------------------------------------------------------------


def step_seed(seed: int, step: int) -> int:
    """A distinct, reproducible seed for each step of a run."""
    return (seed * 1_000_003 + step * 7919 + 17) % (2**63)


def sample_pairs(z_dim: int, batch: int, probability_same: float, rng: torch.Generator) -> tuple[Tensor, Tensor]:
    """Source and target ``z`` of shape ``(batch, z_dim)``; each pair identical with the given probability."""
    source = torch.randn(batch, z_dim, generator=rng)
    target = torch.randn(batch, z_dim, generator=rng)
    same = torch.rand(batch, generator=rng) < probability_same
    return source, torch.where(same[:, None], source, target)


# -- the trainer -----------------------------------------------------------------------------------


@dataclasses.dataclass
class TrainResult:
    steps: int
    export: Path
    final_metrics: dict[str, float]


class Trainer:
    """One training run of the latent mixer.

    :param config: the resolved config.
    :param out_dir: the run's folder (``config.yaml``, ``metrics.jsonl``,
        ``checkpoints/``, ``samples/``, ``mixer.safetensors``).
    :param resume: continue the run saved in ``out_dir``.
    """

    def __init__(self, config: TrainConfig, out_dir: str | Path, *, resume: bool = False) -> None:
        self.folder = RunFolder(Path(out_dir))
        self.dist = Distributed.from_environment()
        self.resume_state: ResumeState | None = None
        if resume:
            path = self.folder.latest_state()
            self.resume_state = load_resume_state(path)
            config = merge_resumed_config(self.resume_state.config, config, path)
        elif self.dist.is_main:
            self.folder.prepare_new()
        self.config = config
        run = config.train
        if run.batch_size % self.dist.world_size:
            raise ConfigError(
                f"train.batch_size {run.batch_size} does not split evenly over {self.dist.world_size} processes"
            )
        self.local_batch = run.batch_size // self.dist.world_size
        self.device = self._device()
        self.dist.setup(self.device)
        self.generator, self.embedder, self.shape_model = build_components(config, self.device)
        torch.manual_seed(step_seed(config.train.seed, -5))  # the mixer's initial weights
        self.mixer = mixer_for(
            self.generator,
            space=config.mixer.space,
            hidden=config.mixer.hidden,
            residual_coefficient=config.mixer.residual_coefficient,
        ).to(self.device)
        self.dist.broadcast_parameters(self.mixer)
        self.space = LatentSpace(
            config.mixer.space, config.sampling.truncation_psi, config.sampling.truncation_cutoff
        )
        self.loss = LatentSwapLoss(self.embedder, self.shape_model, config.loss)
        self.optimizer = build_optimizer(self.mixer.parameters(), config.optim)
        self.validation = self._validation_pairs()
        self.start_step = 0
        if self.resume_state is not None:
            self._restore(self.resume_state)

    # -- setup ---------------------------------------------------------------------------------

    def _device(self) -> torch.device:
        device = resolve_device(self.config.train.device)
        if device.type == "cuda" and self.dist.enabled:
            device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(device)
        return device

    def _validation_pairs(self) -> tuple[Tensor, Tensor]:
        rng = torch.Generator().manual_seed(step_seed(self.config.train.seed, -1))
        return sample_pairs(self.generator.z_dim, self.config.train.validation_pairs, 0.0, rng)

    def _restore(self, state: ResumeState) -> None:
        from .checkpoints import load_state_strict

        load_state_strict(self.mixer, state.modules["mixer"], source="the resume state")
        self.optimizer.load_state_dict(state.optimizers["mixer"])
        self.start_step = state.step

    # -- one step ------------------------------------------------------------------------------

    def losses(self, z_source: Tensor, z_target: Tensor, noise_mode: NoiseMode) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Loss terms for a batch of pairs, and the images (for grids)."""
        space, generator = self.space, self.generator
        # Codes and the mixer stay in float32; autocast covers the networks that render and judge images.
        with torch.no_grad():
            source, target = space.encode(generator, z_source), space.encode(generator, z_target)
            with self._autocast():
                source_images = space.render(generator, source, noise_mode)
                target_images = space.render(generator, target, noise_mode)
                source_embeddings = self.embedder.embed(source_images).float()
        swap = self.mixer(source, target)
        with self._autocast():
            swap_images = space.render(generator, swap, noise_mode)
            terms = self.loss(
                source_images=source_images,
                target_images=target_images,
                swap_images=swap_images,
                source_embeddings=source_embeddings,
                target_codes=target,
                swap_codes=swap,
            )
        images = {"source": source_images, "target": target_images, "swap": swap_images}
        return {name: value.float() for name, value in terms.items()}, images

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.train.precision == "bf16")

    def train_step(self, step: int) -> dict[str, float]:
        run, sampling = self.config.train, self.config.sampling
        rng = torch.Generator().manual_seed(step_seed(run.seed, step))
        z_source, z_target = sample_pairs(self.generator.z_dim, run.batch_size, sampling.same_pair_probability, rng)
        local = slice(self.dist.rank * self.local_batch, (self.dist.rank + 1) * self.local_batch)
        z_source, z_target = z_source[local].to(self.device), z_target[local].to(self.device)
        torch.manual_seed(step_seed(run.seed, step) + 1 + self.dist.rank)  # the generator's random noise
        self.optimizer.zero_grad(set_to_none=True)
        terms, _ = self.losses(z_source, z_target, sampling.noise_mode)
        bad = [name for name, value in terms.items() if not torch.isfinite(value)]
        if self.dist.any(bool(bad)):
            self._diverged(step, bad)
        terms["total"].backward()
        self.dist.average_gradients(self.mixer)
        grad_norm = (
            nn.utils.clip_grad_norm_(self.mixer.parameters(), self.config.optim.grad_clip)
            if self.config.optim.grad_clip > 0
            else torch.tensor(0.0)
        )
        self.optimizer.step()
        metrics = {name: float(value.detach()) for name, value in terms.items()}
        metrics["grad_norm"] = float(grad_norm)
        return self.dist.mean(metrics)

    def _diverged(self, step: int, bad: list[str]) -> None:
        states = self.folder.resume_states()
        kept = f"the last good resume state is {states[-1]}" if states else "no resume state was saved yet"
        terms = [name for name in bad if name != "total"] or bad  # name the term, not the sum
        which = ", ".join(terms) if terms else "a loss on another process"
        raise TrainingError(
            f"loss {which} became non-finite at step {step + 1}; {kept}",
            hint="lower optim.lr or check the component weights, then --resume",
        )

    @torch.no_grad()
    def validate(self) -> tuple[dict[str, float], dict[str, Tensor]]:
        """Losses on the fixed validation pairs (constant noise), and their images."""
        z_source, z_target = (z.to(self.device) for z in self.validation)
        terms, images = self.losses(z_source, z_target, "const")
        return {name: float(value) for name, value in terms.items()}, images

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train to ``train.steps``, writing metrics, grids and resume states on the way."""
        run = self.config.train
        if self.dist.is_main:
            atomic_write_text(self.folder.config, dump_config(self.config))
            self._truncate_metrics(self.start_step)
        self.mixer.train()
        step = self.start_step
        last: dict[str, float] = {}
        started, pairs = time.perf_counter(), 0
        with progress_bar(run.steps, "training", completed=step, enabled=self.dist.is_main) as bar, deferred_interrupt() as stop:
            for step in range(self.start_step, run.steps):
                last = self.train_step(step)
                pairs += run.batch_size
                done = step + 1
                rate = pairs / max(time.perf_counter() - started, 1e-9)
                if done % run.log_every == 0 or done == run.steps:
                    self._log({"step": done, "split": "train", "pairs_per_s": rate, **last})
                if done % run.validate_every == 0 or done == run.steps:
                    self._validate_and_sample(done, grid=done % run.sample_every == 0 or done == run.steps)
                elif done % run.sample_every == 0:
                    self._validate_and_sample(done, grid=True, log=False)
                if done % run.checkpoint_every == 0 or done == run.steps:
                    self.save_state(done)
                bar.advance(metrics={k: last[k] for k in ("total", "id", "lp", "shape") if k in last})
                if self.dist.any(stop.is_set()) and done < run.steps:
                    path = self.save_state(done)
                    raise TrainingInterrupted(
                        f"interrupted after step {done}" + (f"; resume state saved to {path}" if path else ""),
                        hint=f"continue with lswap train --resume {self.folder.root}",
                    )
        export = self.folder.export
        if self.dist.is_main:
            save_mixer(self.mixer, export, provenance={"trained_steps": str(run.steps), "generator": self.config.generator.name})
        self.dist.barrier()
        return TrainResult(steps=run.steps, export=export, final_metrics=last)

    def _validate_and_sample(self, step: int, *, grid: bool, log: bool = True) -> None:
        self.mixer.eval()
        metrics, images = self.validate()
        self.mixer.train()
        if not self.dist.is_main:
            return
        if log:
            self._log({"step": step, "split": "val", **metrics})
        if grid:
            save_image(self.folder.samples / f"step-{step:07d}.png", comparison_grid(images, limit=8))

    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        record = {key: (round(value, 8) if isinstance(value, float) else value) for key, value in record.items()}
        with open(self.folder.metrics, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def _truncate_metrics(self, step: int) -> None:
        """On resume, drop records written after the resumed step (they will be written again)."""
        records = [r for r in read_metrics(self.folder.metrics) if r["step"] <= step]
        atomic_write_text(self.folder.metrics, "".join(json.dumps(r) + "\n" for r in records))

    def save_state(self, step: int) -> Path | None:
        """Save a resume state for ``step`` completed steps (main process) and prune old ones."""
        if not self.dist.is_main:
            return None
        path = self.folder.checkpoints / f"step-{step:07d}.pt"
        save_resume_state(
            path,
            ResumeState(
                step=step,
                modules={"mixer": self.mixer.state_dict()},
                optimizers={"mixer": self.optimizer.state_dict()},
                rng=capture_rng_state(),
                config=to_data(self.config),
            ),
        )
        for old in self.folder.resume_states()[: -self.config.train.keep_checkpoints]:
            old.unlink(missing_ok=True)
        return path


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C into a flag checked between steps, so a step never stops half-done.

    A second Ctrl-C interrupts at once.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def build_optimizer(parameters: Iterator[nn.Parameter], optim: OptimConfig) -> torch.optim.Optimizer:
    """AdamW as the paper trains; the fused kernel where this torch has it for the device.

    The fused step updates each parameter in one pass; the default one makes
    several full-size temporaries per step, which on a CPU cost more than the
    arithmetic (measured: 33 ms instead of 160 ms for the 18×512 mixer).
    """
    params = list(parameters)
    options = {"lr": optim.lr, "betas": optim.betas, "weight_decay": optim.weight_decay}
    try:
        return torch.optim.AdamW(params, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):  # torch < 2.4 on CPU
        return torch.optim.AdamW(params, **options)


def _build(loader: Any, spec: ComponentSpec, seed: int, device: torch.device) -> Any:
    # A component without weights starts from random values: seed it so that every
    # process, a resumed run and later commands (demo grids) build the same one.
    torch.manual_seed(seed)
    return loader(spec.name, spec.weights, preset=spec.preset, **spec.options).to(device).requires_grad_(False)


def build_components(
    config: TrainConfig, device: torch.device
) -> tuple[Generator, IdentityEmbedder, ShapeModel | None]:
    """The frozen generator, embedder and (when weighted) shape model of a run."""
    seed = config.train.seed
    generator = _build(load_generator, config.generator, step_seed(seed, -2), device)
    embedder = _build(load_embedder, config.embedder, step_seed(seed, -3), device)
    shape_model = None
    if config.shape_model is not None and config.loss.shape != 0:
        shape_model = _build(load_shape_model, config.shape_model, step_seed(seed, -4), device)
    return generator, embedder, shape_model


def comparison_grid(images: dict[str, Tensor], limit: int = 8) -> Tensor:
    """Rows of source | target | swap | |swap − target| for the first ``limit`` pairs."""
    rows = []
    for index in range(min(limit, images["swap"].shape[0])):
        source, target, swap = (images[key][index].detach().float().clamp(-1, 1) for key in ("source", "target", "swap"))
        difference = (swap - target).abs() - 1  # |Δ| in [0, 2] shown as an image in [-1, 1]
        rows.append([source, target, swap, difference])
    return image_grid(rows)


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


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False) -> TrainResult:
    """Run (or resume) a training run; see `Trainer`."""
    return Trainer(config, out_dir, resume=resume).run()


def window_mean(records: list[dict[str, Any]], key: str, last: int) -> float:
    """Mean of ``key`` over the last ``last`` training records (a smoothed final value)."""
    values = [r[key] for r in records if r.get("split") == "train" and key in r][-last:]
    return sum(values) / len(values) if values else math.nan
