"""Small real components for testing the host (not used by the product)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from lswap_core.interfaces import Generator, NoiseMode


@dataclasses.dataclass
class ToyConfig:
    resolution: int = 8
    w_dim: int = 4
    num_ws: int = 3


class ToyGenerator(Generator):
    """A linear generator: each W+ row paints one band of the image."""

    name = "toy"
    config_class = ToyConfig
    presets = {"wide": {"w_dim": 6}}

    def __init__(self, config: ToyConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.mapping_net = nn.Linear(cfg.w_dim, cfg.w_dim)
        self.register_buffer("w_average", torch.zeros(cfg.w_dim))
        self.paint = nn.Linear(cfg.num_ws * cfg.w_dim, 3 * cfg.resolution**2)

    num_ws = property(lambda self: self.config.num_ws)
    w_dim = property(lambda self: self.config.w_dim)
    z_dim = property(lambda self: self.config.w_dim)
    resolution = property(lambda self: self.config.resolution)
    layer_resolutions = property(lambda self: tuple([self.config.resolution] * self.config.num_ws))
    w_avg = property(lambda self: self.w_average)

    def mapping(self, z: Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None) -> Tensor:
        ws = self.mapping_net(z)[:, None].repeat(1, self.num_ws, 1)
        ws[:, :truncation_cutoff] = self.w_average.lerp(ws[:, :truncation_cutoff], truncation_psi)
        return ws

    def synthesis(self, ws: Tensor, *, camera: Tensor | None = None, noise_mode: NoiseMode = "const") -> Tensor:
        self.check_ws(ws)
        out = torch.tanh(self.paint(ws.flatten(1)))
        return out.view(-1, 3, self.resolution, self.resolution)


PLUGIN_SOURCE = """
from lswap_core import hookimpl

@hookimpl
def lswap_register_generators(register):
    from tests.support import ToyGenerator
    register(ToyGenerator)
"""
