"""Small real components for testing the host (not used by the product)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from lswap_core.interfaces import (
    Generator,
    IdentityEmbedder,
    ImageConvention,
    NoiseMode,
    ShapeCoefficients,
    ShapeModel,
)
from lswap_core.conventions import to_convention


@dataclasses.dataclass
class ToyConfig:
    resolution: int = 8
    w_dim: int = 4
    num_ws: int = 3


class ToyGenerator(Generator):
    """A linear generator: each W+ row paints one band of the image."""

    name = "toy"
    config_class = ToyConfig
    presets = {"wide": {"w_dim": 6}, "base": {}}

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

    def synthesis(
        self, ws: Tensor, *, camera: Tensor | None = None, noise_mode: NoiseMode = "const", rng: torch.Generator | None = None
    ) -> Tensor:
        self.check_ws(ws)
        out = torch.tanh(self.paint(ws.flatten(1)))
        return out.view(-1, 3, self.resolution, self.resolution)


class ToyEmbedder(IdentityEmbedder):
    """A small convolutional embedder on 16x16 crops."""

    name = "toy-embedder"

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.SiLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 16))

    embedding_dim = property(lambda self: 16)
    input_convention = property(lambda self: ImageConvention(size=(16, 16)))

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


class ToyShapeModel(ShapeModel):
    """Coefficients from a small linear regressor; landmarks linear in them."""

    name = "toy-shape"

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.regress = nn.Linear(3 * 8 * 8, 12)
        self.basis = nn.Linear(10, 68 * 2)

    num_landmarks = property(lambda self: 68)
    input_convention = property(lambda self: ImageConvention(size=(8, 8)))

    def coefficients(self, images: Tensor) -> ShapeCoefficients:
        c = self.regress(to_convention(images, self.input_convention).flatten(1))
        return ShapeCoefficients(identity=c[:, :4], expression=c[:, 4:7], pose=c[:, 7:10], extra=c[:, 10:])

    def landmarks(self, coefficients: ShapeCoefficients) -> Tensor:
        parts = torch.cat([coefficients.identity, coefficients.expression, coefficients.pose], dim=1)
        return self.basis(parts).view(-1, 68, 2)


PLUGIN_SOURCE = """
from lswap_core import hookimpl

@hookimpl
def lswap_register_generators(register):
    from tests.support import ToyGenerator
    register(ToyGenerator)
"""


TOYS_SOURCE = """
from lswap_core import hookimpl

@hookimpl
def lswap_register_generators(register):
    from tests.support import ToyGenerator
    register(ToyGenerator)

@hookimpl
def lswap_register_embedders(register):
    from tests.support import ToyEmbedder
    register(ToyEmbedder)

@hookimpl
def lswap_register_shape_models(register):
    from tests.support import ToyShapeModel
    register(ToyShapeModel)
"""


class ToysPlugin:
    """The toy components as an in-process plugin (``register_plugin(ToysPlugin(), "toys")``)."""

    from lswap_core import hookimpl as _hookimpl

    @_hookimpl
    def lswap_register_generators(self, register):
        register(ToyGenerator)

    @_hookimpl
    def lswap_register_embedders(self, register):
        register(ToyEmbedder)

    @_hookimpl
    def lswap_register_shape_models(self, register):
        register(ToyShapeModel)
