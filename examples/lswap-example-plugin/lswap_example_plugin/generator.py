"""A small style-based generator, written to show the Generator contract.

One W+ row drives each synthesis block (a modulated 3x3 convolution at
4², 8², ... resolution²) and one more drives the RGB output layer.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lswap_core.errors import InputError
from lswap_core.interfaces import Generator, NoiseMode


@dataclasses.dataclass
class ExampleConfig:
    resolution: int = 32  # output side; a power of two, 8 or more
    z_dim: int = 32
    w_dim: int = 32
    channels: int = 16  # feature maps in every block
    mapping_layers: int = 2

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {self.resolution}")


class ModulatedConv(nn.Module):
    """3x3 convolution whose input channels are scaled by a style from one W row."""

    def __init__(self, w_dim: int, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__()
        self.affine = nn.Linear(w_dim, in_channels)
        nn.init.normal_(self.affine.weight, std=1 / math.sqrt(w_dim))
        nn.init.ones_(self.affine.bias)  # styles start around 1, as in StyleGAN
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel) / math.sqrt(in_channels * kernel**2))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        style = self.affine(w)  # (N, in_channels)
        out = F.conv2d(x * style[:, :, None, None], self.weight, padding=self.weight.shape[-1] // 2)
        return out + self.bias[None, :, None, None]


class ExampleGenerator(Generator):
    """Small style-based generator (example plugin)."""

    name = "example-style"
    config_class = ExampleConfig
    presets = {"small": {"resolution": 16, "channels": 8}}

    def __init__(self, config: ExampleConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        layers: list[nn.Module] = []
        for index in range(cfg.mapping_layers):
            layers += [nn.Linear(cfg.z_dim if index == 0 else cfg.w_dim, cfg.w_dim), nn.LeakyReLU(0.2)]
        self.mapping_net = nn.Sequential(*layers)
        self.register_buffer("w_average", torch.zeros(cfg.w_dim))
        self.const = nn.Parameter(torch.randn(cfg.channels, 4, 4))
        self._resolutions = tuple(2**k for k in range(2, int(math.log2(cfg.resolution)) + 1))
        self.convs = nn.ModuleList(ModulatedConv(cfg.w_dim, cfg.channels, cfg.channels, 3) for _ in self._resolutions)
        self.noise_strengths = nn.Parameter(torch.full((len(self._resolutions),), 0.1))
        for index, res in enumerate(self._resolutions):
            self.register_buffer(f"noise_const_{index}", torch.randn(1, 1, res, res))
        self.to_rgb = ModulatedConv(cfg.w_dim, cfg.channels, 3, 1)
        self.update_w_avg()

    @property
    def num_ws(self) -> int:
        return len(self._resolutions) + 1

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def layer_resolutions(self) -> tuple[int, ...]:
        return (*self._resolutions, self.config.resolution)

    @property
    def w_avg(self) -> Tensor:
        return self.w_average

    def mapping(self, z: Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None) -> Tensor:
        z = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()  # normalise the second moment
        ws = self.mapping_net(z)[:, None, :].repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            rows = slice(0, truncation_cutoff)
            ws[:, rows] = self.w_average.lerp(ws[:, rows], truncation_psi)
        return ws

    def update_w_avg(self, samples: int = 1024) -> None:
        """Set ``w_avg`` to the mean W of ``samples`` seeded draws (a trained generator tracks it)."""
        self.w_average.copy_(self.mean_w(samples, rng=torch.Generator().manual_seed(0)))

    def noise_buffers(self) -> dict[str, Tensor]:
        return {f"noise_const_{index}": getattr(self, f"noise_const_{index}") for index in range(len(self._resolutions))}

    def synthesis(
        self,
        ws: Tensor,
        *,
        camera: Tensor | None = None,
        noise_mode: NoiseMode = "const",
        rng: torch.Generator | None = None,
    ) -> Tensor:
        self.check_ws(ws)
        if camera is not None:
            raise InputError("the example generator renders a single view and takes no camera")
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        for index, conv in enumerate(self.convs):
            if index:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = conv(x, ws[:, index])
            if noise_mode == "const":
                x = x + getattr(self, f"noise_const_{index}") * self.noise_strengths[index]
            elif noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype, generator=rng)
                x = x + noise * self.noise_strengths[index]
            x = F.leaky_relu(x, 0.2)
        return torch.tanh(self.to_rgb(x, ws[:, -1]))
