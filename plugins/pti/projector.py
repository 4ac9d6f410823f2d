"""W projection: NVIDIA's StyleGAN2-ADA projector, exactly as PTI runs it for its pivots.

Per image (``(3, H, W)`` in ``[0, 255]``), on a private copy of the generator:

1. ``w_avg`` and the scalar ``w_std`` of ``samples`` codes mapped from
   ``numpy.random.RandomState(seed).randn`` (row 0, truncation 1); ``w_std``
   is one number over all dimensions, as the official code computes it.
2. Adam (betas 0.9, 0.999) over ``w`` (one row, started at ``w_avg``) and every
   ``noise_const`` buffer, which are then re-drawn from N(0, 1).
3. Each step ``t = step / steps``: the learning rate ``lr * ramp(t)`` (a cosine
   ramp-down over the last ``rampdown`` and a linear ramp-up over the first
   ``rampup`` of the run, so it is 0 at step 0 while Adam still counts the
   step); W noise of scale ``w_std * noise_factor * max(0, 1 - t / noise_ramp)²``
   drawn every step; the image, area-resized to 256² when larger, scored by
   the summed squared feature distance plus ``noise_weight`` times the noise
   buffers' autocorrelation over a pyramid down to 8²; after the step the
   buffers are renormalised to zero mean and unit variance.
4. The result is that row repeated over all ``num_ws`` rows (the official
   code repeats 18 whatever the generator).

Where the official code draws from the global torch RNG (the noise buffers,
the W noise), this draws the same sequence from ``rng``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from lswap_core.errors import InversionError
from lswap_core.interfaces import Generator

from .config import PTIConfig

FEATURE_SIZE = 256  # images larger than this are area-resized first: "VGG was built for 224x224 images"
NOISE_PYRAMID_STOP = 8  # the regulariser's pyramid ends with the first level at most this high

Features = Callable[[Tensor], Tensor]  # (N, 3, H, W) in [0, 255] -> (N, ...)
StepCallback = Callable[[], None]


def pixel_features(images: Tensor) -> Tensor:
    """The image itself as features: flattened and divided by 255."""
    return images.reshape(images.shape[0], -1) / 255


def w_statistics(generator: Generator, samples: int, seed: int) -> tuple[Tensor, float]:
    """``w_avg`` ``(1, 1, w_dim)`` and the scalar ``w_std`` of ``samples`` mapped codes, in float32 as NVIDIA's projector."""
    z = np.random.RandomState(seed).randn(samples, generator.z_dim)
    with torch.no_grad():
        w = generator.mapping(torch.from_numpy(z).to(generator.device, torch.float32))[:, :1]
    w_samples = w.cpu().numpy().astype(np.float32)
    w_avg = np.mean(w_samples, axis=0, keepdims=True)
    w_std = (np.sum((w_samples - w_avg) ** 2) / samples) ** 0.5
    return torch.from_numpy(w_avg), float(w_std)


def learning_rate(step: int, config: PTIConfig) -> float:
    t = step / config.projection_steps
    ramp = min(1.0, (1.0 - t) / config.projection_lr_rampdown)
    ramp = 0.5 - 0.5 * np.cos(ramp * np.pi)
    ramp = ramp * min(1.0, t / config.projection_lr_rampup)
    return float(config.projection_lr * ramp)


def w_noise_scale(step: int, w_std: float, config: PTIConfig) -> float:
    t = step / config.projection_steps
    return float(np.float32(w_std) * config.projection_noise_factor * max(0.0, 1.0 - t / config.projection_noise_ramp) ** 2)


def noise_regularization(buffers: list[Tensor]) -> Tensor:
    """Squared autocorrelation of each noise buffer with itself shifted by one pixel, over a pyramid."""
    loss = torch.zeros((), device=buffers[0].device) if buffers else torch.zeros(())
    for buffer in buffers:
        noise = buffer[None, None]
        while True:
            loss = loss + (noise * torch.roll(noise, shifts=1, dims=3)).mean() ** 2
            loss = loss + (noise * torch.roll(noise, shifts=1, dims=2)).mean() ** 2
            if noise.shape[2] <= NOISE_PYRAMID_STOP:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    return loss


def feature_size(images: Tensor) -> Tensor:
    return F.interpolate(images, size=(FEATURE_SIZE, FEATURE_SIZE), mode="area") if images.shape[2] > FEATURE_SIZE else images


class Projector:
    """Projects images into W one at a time; one private copy of the generator serves them all."""

    def __init__(self, generator: Generator, features: Features, config: PTIConfig) -> None:
        self.config = config
        self.features = features
        self.generator = copy.deepcopy(generator).eval().requires_grad_(False)
        self.noise = list(self.generator.noise_buffers().values())
        self.w_avg, self.w_std = w_statistics(self.generator, config.projection_samples, config.projection_seed)

    def project(self, target: Tensor, rng: torch.Generator, on_step: StepCallback | None = None) -> tuple[Tensor, list[Tensor]]:
        """Codes ``(num_ws, w_dim)`` for ``target`` ``(3, H, W)`` in ``[0, 255]``, and W after each step ``(w_dim,)``."""
        config, generator = self.config, self.generator
        device = generator.device
        with torch.no_grad():
            target_features = self.features(feature_size(target[None].to(device, torch.float32)))
        w_opt = self.w_avg.to(device).clone().requires_grad_(True)
        for buffer in self.noise:
            buffer.requires_grad_(False)
        optimizer = torch.optim.Adam([w_opt, *self.noise], betas=(0.9, 0.999), lr=config.projection_lr)
        with torch.no_grad():
            for buffer in self.noise:
                buffer.copy_(torch.randn(buffer.shape, generator=rng).to(device))
        for buffer in self.noise:
            buffer.requires_grad_(True)
        trajectory = []
        try:
            for step in range(config.projection_steps):
                lr = learning_rate(step, config)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                w_noise = torch.randn(w_opt.shape, generator=rng).to(device) * w_noise_scale(step, self.w_std, config)
                ws = (w_opt + w_noise).repeat([1, generator.num_ws, 1])
                images = feature_size((generator.synthesis(ws, noise_mode="const") + 1) * (255 / 2))
                distance = (target_features - self.features(images)).square().sum()
                loss = distance + noise_regularization(self.noise) * config.projection_noise_weight
                if not torch.isfinite(loss):
                    raise InversionError(
                        f"the projection's loss became {loss.item()} at step {step + 1} of {config.projection_steps}",
                        hint="check the image, or lower projection_lr",
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    for buffer in self.noise:
                        buffer -= buffer.mean()
                        buffer *= buffer.square().mean().rsqrt()
                trajectory.append(w_opt.detach()[0, 0].clone())
                if on_step is not None:
                    on_step()
        finally:
            for buffer in self.noise:
                buffer.requires_grad_(False)
        return w_opt.detach()[0].repeat([generator.num_ws, 1]), trajectory

