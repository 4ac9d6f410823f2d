"""Several training processes (``torchrun``): who does what, and the collective operations.

Every collective works on tensors on the device the process trains on:
NCCL, the backend of CUDA runs, rejects CPU tensors.
"""

from __future__ import annotations

import dataclasses
import os

import torch
from torch import nn


@dataclasses.dataclass
class Distributed:
    """This process's place among the training processes.

    :param device: where this process trains; the tensors of collective
        operations live there. Set by `setup`.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

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
        """Train on ``device``, joining the process group (NCCL on CUDA, gloo on CPU) when there are several processes."""
        self.device = device
        if self.enabled and not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    def close(self) -> None:
        """Leave the process group together, after a run that ended well on every process: one
        exiting while gloo still talks to the others aborts it."""
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on any process (every process must call it: it also synchronises them)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
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
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return {k: float(v) / self.world_size for k, v in zip(keys, tensor.tolist())}
