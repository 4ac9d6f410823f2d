"""Small real components for testing the host (not used by the product)."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lswap_core.conventions import to_convention
from lswap_core.errors import InputError
from lswap_core.interfaces import (
    Editor,
    Generator,
    IdentityEmbedder,
    ImageConvention,
    Inversion,
    Inverter,
    NoiseMode,
    ProgressCallback,
    ShapeCoefficients,
    ShapeModel,
)


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
        if camera is not None:
            raise InputError("the toy generator renders a single view")
        out = torch.tanh(self.paint(ws.flatten(1)))
        return out.view(-1, 3, self.resolution, self.resolution)


@dataclasses.dataclass
class ToyCameraConfig(ToyConfig):
    num_ws: int = 4
    view_range: float = 0.5  # cameras: yaw and pitch in radians, drawn from [-view_range, view_range]


class ToyCameraGenerator(ToyGenerator):
    """A toy 3D-aware generator: the W+ rows paint a texture that the camera (yaw, pitch) turns.

    Its random noise stands for a NeRF's stratified sampling: drawn from the
    ``rng`` of the call. Its constant noise is a buffer, as in StyleGAN2.
    """

    name = "toy-camera"
    config_class = ToyCameraConfig
    supports_camera = True

    def __init__(self, config: ToyCameraConfig | None = None) -> None:
        super().__init__(config)
        self.register_buffer("noise_const", torch.randn(1, 1, self.config.resolution, self.config.resolution))

    layer_resolutions = property(lambda self: (4, 4, 8, 8)[: self.config.num_ws])

    def sample_cameras(self, n: int, *, rng: torch.Generator | None = None) -> Tensor:
        return (torch.rand(n, 2, generator=rng) * 2 - 1) * self.config.view_range

    @property
    def named_views(self) -> dict[str, Tensor]:
        r = self.config.view_range
        views = {"front": (0.0, 0.0), "left": (-r, 0.0), "right": (r, 0.0), "up": (0.0, r), "down": (0.0, -r)}
        return {name: torch.tensor([view]) for name, view in views.items()}

    def orbit_cameras(self, frames: int) -> Tensor:
        angle = torch.arange(frames) / frames * 2 * torch.pi
        return torch.stack([angle.sin(), angle.cos()], dim=1) * self.config.view_range

    def noise_buffers(self) -> dict[str, Tensor]:
        return {"noise_const": self.noise_const}

    def synthesis(
        self, ws: Tensor, *, camera: Tensor | None = None, noise_mode: NoiseMode = "const", rng: torch.Generator | None = None
    ) -> Tensor:
        self.check_ws(ws)
        if camera is None:
            camera = self.named_views["front"].to(ws.device)
        camera = camera.expand(ws.shape[0], 2)
        texture = self.paint(ws.flatten(1)).view(-1, 3, self.resolution, self.resolution)
        turned = torch.roll(texture, 1, dims=-1)
        yaw, pitch = camera[:, 0, None, None, None], camera[:, 1, None, None, None]
        image = texture * yaw.cos() + turned * yaw.sin() + pitch
        if noise_mode == "const":
            image = image + 0.1 * self.noise_const
        elif noise_mode == "random":
            image = image + 0.1 * torch.randn(image.shape[0], 1, *image.shape[2:], generator=rng, device=image.device)
        return torch.tanh(image)


@dataclasses.dataclass
class ToyInverterConfig:
    steps: int = 4
    lr: float = 0.05


class ToyInverter(Inverter):
    """Optimises W+ codes from the generator's mean code, by Adam on the pixel error."""

    name = "toy-inverter"
    config_class = ToyInverterConfig

    def invert(
        self,
        images: Tensor,
        generator: Generator,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        rng: torch.Generator | None = None,
    ) -> Inversion:
        steps = self.config.steps
        total = steps * (2 if self.tunes_generator else 1)
        self.report_step(0, total, progress, cancel)
        target = F.interpolate(images, size=(generator.resolution,) * 2, mode="bilinear", align_corners=False)
        start = generator.mean_w(16, rng=rng) + 0.01 * torch.randn(generator.w_dim, generator=rng)
        ws = start.expand(images.shape[0], generator.num_ws, -1).clone().requires_grad_(True)
        optimizer = torch.optim.Adam([ws], lr=self.config.lr)
        for step in range(steps):
            optimizer.zero_grad()
            F.mse_loss(generator.synthesis(ws), target).backward()
            optimizer.step()
            self.report_step(step + 1, total, progress, cancel)
        ws = ws.detach()
        if not self.tunes_generator:
            return Inversion(ws)
        tuned = copy.deepcopy(generator).requires_grad_(False)
        tuned.paint.bias.requires_grad_(True)  # pivotal tuning of one tensor
        optimizer = torch.optim.Adam([tuned.paint.bias], lr=self.config.lr)
        for step in range(steps):
            optimizer.zero_grad()
            F.mse_loss(tuned.synthesis(ws), target).backward()
            optimizer.step()
            self.report_step(steps + step + 1, total, progress, cancel)
        return Inversion(ws, {"paint.bias": tuned.paint.bias.detach().clone()})


class ToyTuningInverter(ToyInverter):
    """`ToyInverter` that also tunes the generator around the codes it found, as PTI does."""

    name = "toy-tuning-inverter"
    tunes_generator = True


@dataclasses.dataclass
class ToyEditorConfig:
    w_dim: int = 4
    directions: tuple[str, ...] = ("up", "down")


class ToyEditor(Editor):
    """Random unit directions, added to the chosen rows."""

    name = "toy-editor"
    config_class = ToyEditorConfig

    def __init__(self, config: ToyEditorConfig | None = None) -> None:
        super().__init__(config)
        self.register_buffer("vectors", F.normalize(torch.randn(len(self.config.directions), self.config.w_dim), dim=1))

    @property
    def directions(self) -> tuple[str, ...]:
        return self.config.directions

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    def edit(self, ws: Tensor, direction: str, strength: float, layers: Sequence[int] | None = None) -> Tensor:
        self.check_direction(direction)
        self.check_ws(ws)
        rows = list(range(ws.shape[1])) if layers is None else list(layers)
        edited = ws.clone()
        edited[:, rows] += strength * self.vectors[self.directions.index(direction)]
        return edited


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
        register(ToyCameraGenerator)

    @_hookimpl
    def lswap_register_inverters(self, register):
        register(ToyInverter)
        register(ToyTuningInverter)

    @_hookimpl
    def lswap_register_editors(self, register):
        register(ToyEditor)

    @_hookimpl
    def lswap_register_embedders(self, register):
        register(ToyEmbedder)

    @_hookimpl
    def lswap_register_shape_models(self, register):
        register(ToyShapeModel)
