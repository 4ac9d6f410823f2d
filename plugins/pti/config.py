"""Options of the PTI inverter, with the official defaults, and its named presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

Mode = Literal["single", "multi", "target"]
PivotSource = Literal["projection", "e4e"]
ProjectionFeatures = Literal["vgg16", "pixels"]
LpipsNet = Literal["alex", "vgg"]


@dataclasses.dataclass
class PTIConfig:
    """Pivotal Tuning Inversion (Roich et al. 2022), danielroich/PTI's hyperparameters by default.

    ``mode``: ``single`` tunes one generator per image (the official single-ID
    coach; one image per `invert` call), ``multi`` one generator on all images
    together (the multi-ID coach, as LatentSwap tunes source and target),
    ``target`` tunes on the last image only and projects the others into W
    without tuning.
    """

    mode: Mode = "single"
    pivot: PivotSource = "projection"  # "e4e": the e4e encoder's W+ codes are the pivots (official first_inv_type='w+')
    e4e_weights: str | None = None  # the e4e inverter's weights (an asset name or a path), for pivot="e4e"
    e4e_preset: str | None = None  # an e4e preset instead of weights (e.g. "tiny" in tests)

    # W projection (NVIDIA's StyleGAN2-ADA projector, as PTI calls it)
    projection_steps: int = 450  # official first_inv_steps
    projection_samples: int = 600  # official w_avg_samples: z from numpy RandomState(projection_seed)
    projection_seed: int = 123
    projection_lr: float = 0.01  # official initial_learning_rate (first_inv_lr=5e-3 is overwritten every step)
    projection_lr_rampup: float = 0.05
    projection_lr_rampdown: float = 0.25
    projection_noise_factor: float = 0.05  # initial_noise_factor: the W noise, in units of W's std
    projection_noise_ramp: float = 0.75
    projection_noise_weight: float = 1e5  # regularize_noise_weight
    projection_features: ProjectionFeatures = "vgg16"  # "pixels": the 0-255 image flattened and divided by 255
    vgg16_weights: str | None = None  # NVIDIA's VGG16 features: an export path or asset name (default: asset vgg16)

    # pivotal tuning
    tuning_steps: int = 350  # official max_pti_steps
    tuning_lr: float = 3e-4
    l2_weight: float = 1.0  # pt_l2_lambda
    lpips_weight: float = 1.0  # pt_lpips_lambda
    lpips_net: LpipsNet = "alex"
    lpips_weights: str | None = None  # LPIPS export path or asset name (default: asset lpips, or lpips-vgg)
    perceptual_init: Literal["pretrained", "random"] = "pretrained"  # random: small tests without downloads
    lpips_threshold: float = 0.06  # single-ID tuning stops once LPIPS is at or below this (before that step)
    locality_regularization: bool = False
    locality_alpha: float = 30.0  # regulizer_alpha: how far from the pivot the regularised codes lie
    locality_l2_weight: float = 0.1
    locality_lpips_weight: float = 0.1
    locality_samples: int = 1  # latent_ball_num_of_samples
    locality_truncation: float = 0.5

    def __post_init__(self) -> None:
        for field in ("projection_steps", "tuning_steps", "projection_samples", "locality_samples"):
            if getattr(self, field) < 0 or (field.endswith("samples") and getattr(self, field) < 1):
                raise ValueError(f"{field} must be {'positive' if field.endswith('samples') else 'zero or more'}")
        for field in ("projection_lr", "tuning_lr"):
            if not getattr(self, field) > 0:
                raise ValueError(f"{field} must be positive")
        for field in ("projection_lr_rampup", "projection_lr_rampdown", "projection_noise_ramp"):
            if not 0 < getattr(self, field) <= 1:
                raise ValueError(f"{field} must be in (0, 1]")
        if self.pivot == "e4e" and self.e4e_weights is None and self.e4e_preset is None:
            raise ValueError("pivot 'e4e' needs e4e_weights (the converted e4e encoder) or e4e_preset")


PRESETS: dict[str, dict[str, object]] = {
    # The official schedule: 450 projection steps, then up to 350 tuning steps.
    "official": {},
    # e4e's codes as pivots (no projection), then a short tuning.
    "fast": {"pivot": "e4e", "e4e_weights": "e4e-ffhq", "tuning_steps": 100},
    # Projection only in a few steps and a short tuning: a quick look.
    "draft": {"projection_steps": 100, "tuning_steps": 50},
    # Small random perceptual networks, pixel features and a few steps: tests and the offline demo.
    "tiny": {
        "projection_steps": 8,
        "projection_samples": 64,
        "projection_features": "pixels",
        "tuning_steps": 4,
        "perceptual_init": "random",
        "lpips_threshold": 0.0,
    },
}
