"""Pivotal tuning: fine-tune a copy of the generator so that its pivots render the photos.

As PTI's coaches (danielroich/PTI ``training/coaches``): Adam (lr 3e-4, default
betas) over all the generator's parameters; each step renders the pivot with
the constant noise and minimises ``l2_weight * MSE + lpips_weight * LPIPS``
against the photo, plus, when enabled, the locality regulariser. The
single-image coach stops once LPIPS is at or below the threshold, checked
before that step's update; the multi-image coach takes one step per image in
turn, with one optimiser, and never stops early.

The locality regulariser draws ``z`` from ``rng`` where the official code uses
NumPy's global generator; everything else is the official rule.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from lswap_core.errors import InversionError
from lswap_core.interfaces import Generator

from .config import PTIConfig

Perceptual = Callable[[Tensor, Tensor], Tensor]  # two image batches in [-1, 1] -> a distance per image
StepCallback = Callable[[], None]


@dataclasses.dataclass
class TuningStep:
    """The losses of one tuning step (before its update)."""

    image: int
    loss: float
    l2: float
    lpips: float


class PivotalTuner:
    """Tunes a private copy of ``generator``; the generator passed in is never modified."""

    def __init__(self, generator: Generator, lpips: Perceptual, config: PTIConfig) -> None:
        self.config = config
        self.lpips = lpips
        self.original = generator
        self.tuned = copy.deepcopy(generator).eval().requires_grad_(True)
        # The official Adam update, fused into one kernel: the same arithmetic, several times faster
        # than a loop over the generator's tensors.
        self.optimizer = torch.optim.Adam(self.tuned.parameters(), lr=config.tuning_lr, fused=True)
        self.history: list[TuningStep] = []

    def tune_single(
        self, pivot: Tensor, image: Tensor, rng: torch.Generator, on_step: StepCallback | None = None, *, image_index: int = 0
    ) -> None:
        """Tune on one image ``(1, 3, R, R)`` until LPIPS reaches the threshold or the steps run out."""
        for step in range(self.config.tuning_steps):
            loss, lpips = self._loss(image_index, pivot, image, rng)
            self.optimizer.zero_grad(set_to_none=True)
            if lpips <= self.config.lpips_threshold:
                break
            self._step(loss, step)
            if on_step is not None:
                on_step()

    def tune_jointly(self, pivots: Tensor, images: Tensor, rng: torch.Generator, on_step: StepCallback | None = None) -> None:
        """One step per image in turn, for every tuning step; ``pivots`` ``(N, num_ws, w_dim)``, ``images`` ``(N, 3, R, R)``."""
        for step in range(self.config.tuning_steps):
            for index in range(pivots.shape[0]):
                loss, _ = self._loss(index, pivots[index : index + 1], images[index : index + 1], rng)
                self.optimizer.zero_grad(set_to_none=True)
                self._step(loss, step)
            if on_step is not None:
                on_step()

    def changed_tensors(self) -> dict[str, Tensor]:
        """The tuned tensors that differ from the original generator's, by ``state_dict`` name."""
        original = self.original.state_dict()
        return {
            name: tensor.detach().clone()
            for name, tensor in self.tuned.state_dict().items()
            if not torch.equal(tensor, original[name].to(tensor.device))
        }

    def _loss(self, index: int, pivot: Tensor, image: Tensor, rng: torch.Generator) -> tuple[Tensor, float]:
        config = self.config
        generated = self.tuned.synthesis(pivot, noise_mode="const")
        l2 = F.mse_loss(generated, image)
        lpips = self.lpips(generated, image).squeeze()
        loss = l2 * config.l2_weight + lpips * config.lpips_weight
        if config.locality_regularization:
            loss = loss + self._locality(pivot, rng)
        lpips_value = float(lpips.detach())
        self.history.append(TuningStep(index, float(loss.detach()), float(l2.detach()), lpips_value))
        return loss, lpips_value

    def _locality(self, pivot: Tensor, rng: torch.Generator) -> Tensor:
        """Keep the generator's images of codes around the pivot (at distance alpha) as they were."""
        config = self.config
        z = torch.randn(config.locality_samples, self.original.z_dim, generator=rng).to(pivot.device)
        with torch.no_grad():
            samples = self.original.mapping(z, truncation_psi=config.locality_truncation)
        loss = torch.zeros((), device=pivot.device)
        for sample in samples:
            direction = sample[None] - pivot
            code = pivot + config.locality_alpha * direction / torch.norm(direction, p=2)
            new = self.tuned.synthesis(code, noise_mode="none")
            with torch.no_grad():
                old = self.original.synthesis(code, noise_mode="none")
            loss = loss + F.mse_loss(old, new) * config.locality_l2_weight
            loss = loss + self.lpips(old, new).squeeze().mean() * config.locality_lpips_weight
        return loss / config.locality_samples

    def _step(self, loss: Tensor, step: int) -> None:
        if not torch.isfinite(loss):
            raise InversionError(
                f"the tuning loss became {loss.item()} at step {step + 1} of {self.config.tuning_steps}",
                hint="lower tuning_lr, or check the image",
            )
        loss.backward()
        self.optimizer.step()
