"""The ``pti`` inverter: W projection for the pivots, then pivotal tuning of the generator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from lswap_core.errors import IncompatibleLatentError, InputError
from lswap_core.interfaces import Generator, Inversion, Inverter, ProgressCallback

from .config import PRESETS, PTIConfig
from .perceptual import build_lpips, build_projection_features
from .projector import Projector
from .tuning import PivotalTuner, TuningStep


class PTIInverter(Inverter):
    """Pivotal Tuning Inversion (Roich et al., ACM TOG 2022), faithful to danielroich/PTI."""

    name = "pti"
    description = "Pivotal Tuning Inversion: W projection, then the generator tuned around the pivots"
    config_class = PTIConfig
    presets = PRESETS
    tunes_generator = True

    def __init__(self, config: PTIConfig | None = None) -> None:
        super().__init__(config)
        self.lpips = build_lpips(self.config)
        self.tuning_history: list[TuningStep] = []  # the losses of the last inversion's tuning steps
        self._encoders: dict[str, Inverter] = {}  # the e4e encoder of pivot="e4e", loaded once (not part of the state)
        self._pivot_cache: dict[str, Tensor] = {}  # projected pivots by image (see `_pivots`)
        self._pivot_for: list[Generator] = []  # the generator the cached pivots belong to (a list: not a submodule)
        self.projection_features: nn.Module | None = (
            build_projection_features(self.config) if self.config.pivot == "projection" else None
        )

    def invert(
        self,
        images: Tensor,
        generator: Generator,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        rng: torch.Generator | None = None,
    ) -> Inversion:
        config = self.config
        images = self._checked_images(images, generator)
        rng = rng if rng is not None else torch.Generator().manual_seed(0)
        count = images.shape[0]
        keys = self._pivot_keys(images, generator, rng) if config.pivot == "projection" else []
        projected = sum(key not in self._pivot_cache for key in keys)
        total = projected * config.projection_steps + config.tuning_steps
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            self.report_step(done, total, progress, cancel)

        self.report_step(0, total, progress, cancel)
        started = time.perf_counter()
        pivots = self._pivots(images, generator, keys, rng, step, cancel)
        pivoted = time.perf_counter()
        tuner = PivotalTuner(generator, self.lpips, config)
        if config.mode == "multi":
            tuner.tune_jointly(pivots, images, rng, step)
        else:  # single: the one image; target: the last image, the others only projected
            tuner.tune_single(pivots[-1:], images[-1:], rng, step, image_index=count - 1)
        self.tuning_history = tuner.history
        if progress is not None and done < total:  # tuning stopped early: every step there is to do is done
            progress(total, total)
        seconds = {"projection" if config.pivot == "projection" else "encoding": pivoted - started,
                   "tuning": time.perf_counter() - pivoted}
        return Inversion(pivots, tuner.changed_tensors(), seconds)

    def _checked_images(self, images: Tensor, generator: Generator) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"PTI inverts (N, 3, H, W) images, got shape {tuple(images.shape)}")
        if self.config.mode == "single" and images.shape[0] != 1:
            raise InputError(
                f"PTI mode 'single' tunes one generator per image, got {images.shape[0]} images",
                hint="invert them one at a time, or use mode 'multi' (one generator for all) or 'target'",
            )
        if generator.supports_camera:
            raise IncompatibleLatentError(
                f"PTI inverts into 2D generators; {generator.name!r} renders from cameras",
                hint="use another inverter for 3D-aware generators",
            )
        if images.shape[-1] != generator.resolution or images.shape[-2] != generator.resolution:
            from lswap_core.conventions import resize

            images = resize(images, (generator.resolution, generator.resolution))
        return images.to(generator.device, torch.float32)

    def _pivots(
        self,
        images: Tensor,
        generator: Generator,
        keys: list[str],
        rng: torch.Generator,
        step: Callable[[], None],
        cancel: threading.Event | None,
    ) -> Tensor:
        """The codes tuning starts from: projected into W, or e4e's W+ codes.

        Each image is projected with its own random draws, seeded from the
        rng's seed and the image, so its pivot does not depend on the images
        it is inverted with; a pivot found before for the same image,
        generator and seed is reused (a photo in several swaps).
        """
        config = self.config
        if config.pivot == "e4e":
            return self._encoder(generator.device).invert(images, generator, cancel=cancel, rng=rng).ws.detach()
        assert self.projection_features is not None
        projector = None
        for image, key in zip(images, keys):
            if key not in self._pivot_cache:
                projector = projector or Projector(generator, self.projection_features, config)
                own_rng = torch.Generator().manual_seed(int(key[:15], 16))
                self._pivot_cache[key] = projector.project((image + 1) / 2 * 255, own_rng, step)[0]
        return torch.stack([self._pivot_cache[key] for key in keys])

    def _pivot_keys(self, images: Tensor, generator: Generator, rng: torch.Generator) -> list[str]:
        """One key per image: its pixels, the rng's seed and the projection settings (for one generator at a time)."""
        import dataclasses
        import hashlib

        if not self._pivot_for or self._pivot_for[0] is not generator:  # pivots belong to one generator
            self._pivot_cache.clear()
            self._pivot_for[:] = [generator]
        settings = repr((rng.initial_seed(), dataclasses.astuple(self.config))).encode()
        keys = []
        for image in images:
            digest = hashlib.sha256(settings)
            digest.update(image.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
            keys.append(digest.hexdigest())
        return keys

    def _encoder(self, device: torch.device) -> Inverter:
        from lswap_core.registry import load_inverter

        if "e4e" not in self._encoders:
            config = self.config
            weights, preset = (config.e4e_weights, None) if config.e4e_weights is not None else (None, config.e4e_preset)
            self._encoders["e4e"] = load_inverter("e4e", weights=weights, preset=preset)
        return self._encoders["e4e"].to(device)
