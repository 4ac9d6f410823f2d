"""Training the latent mixer on randomly sampled codes (paper, "Training Procedure").

One module per job: `schema` (the config and what a resume may change),
`run_folder` (the run's files and metrics), `distributed` (torchrun
processes), `sampling` (what each step draws, and its seeds), `interrupts`
(Ctrl-C between steps), `stage_timer` (a step's time by stage, for
benchmarks) and `trainer` (the loop).
"""

from __future__ import annotations

from .run_folder import RunFolder, read_metrics, window_mean
from .sampling import sample_pairs, step_seed
from .schema import ComponentSpec, TrainConfig
from .trainer import Components, Trainer, TrainResult, build_components, train

__all__ = [
    "ComponentSpec",
    "Components",
    "RunFolder",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_components",
    "read_metrics",
    "sample_pairs",
    "step_seed",
    "train",
    "window_mean",
]
