"""Where a training step's time goes, stage by stage (``lswap bench train``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch

# sampling: drawing z and mapping it to codes; mixing: the mixer's forward; rendering: the
# generator's synthesis; judging: the embedder, shape model and losses; backward; optimizer:
# averaging gradients over processes, unscaling, clipping and the AdamW step.
STAGES = ("sampling", "mixing", "rendering", "judging", "backward", "optimizer")


class StageTimer:
    """Seconds spent in each of `STAGES` by the steps run while ``trainer.stage_timer`` holds it.

    It waits for the device at every stage boundary, so that queued GPU work is
    counted in the stage that launched it. That waiting serialises the device,
    which is why a trainer holds no timer unless a benchmark attaches one.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._synchronize()
        started = time.perf_counter()
        try:
            yield
        finally:
            self._synchronize()
            self.seconds[name] += time.perf_counter() - started

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
