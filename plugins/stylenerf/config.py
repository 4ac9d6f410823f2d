"""Architecture options of the StyleNeRF generator and its named presets."""

from __future__ import annotations

import dataclasses
import math

FFHQ_RANGE_U = (-0.3, 0.3)  # yaw range in radians (official camera_kwargs.range_u)
FFHQ_RANGE_V = (math.pi / 2 - 0.155, math.pi / 2 + 0.155)  # polar-angle range (range_v)


@dataclasses.dataclass
class StyleNeRFConfig:
    """Everything that shapes the network; exports store it, so a file rebuilds its generator.

    Names follow the official ``conf/model/stylenerf_ffhq.yaml`` (``training.networks.Generator``
    with ``training.stylenerf.NeRFSynthesisNetwork``); defaults are its FFHQ 1024 values.
    """

    resolution: int = 1024  # output side; a power of two above resolution_vol
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float | None = 0.995  # decay of the tracked W average while training
    # NeRF
    resolution_vol: int = 32  # side of the volume-rendered feature map
    rgb_out_dim: int = 256  # feature channels the NeRF hands to the upsampler
    fg_hidden: int = 128  # width of the foreground MLP
    fg_blocks: int = 8  # fc_in + 7 blocks: with sigma_out and feat_out, 10 W+ rows
    bg_hidden: int = 64  # width of the background MLP (NeRF++ inverse sphere)
    bg_blocks: int = 4
    z_dim_bg: int = 32  # background latent; not part of W+
    pe_freqs: int = 10  # positional-encoding octaves
    n_ray_samples: int = 14  # coarse samples per ray (20 in files saved with alpha = -1)
    n_bg_samples: int = 4
    hierarchical: bool = True  # importance resampling of as many fine samples (official renderer default)
    # Cameras (angular, looking at the origin, up = +z)
    fov: float = 12.0  # degrees
    range_u: tuple[float, float] = FFHQ_RANGE_U
    range_v: tuple[float, float] = FFHQ_RANGE_V
    radius: float = 1.0  # range_radius is [1, 1] for FFHQ
    depth_range: tuple[float, float] = (0.88, 1.12)  # near and far depth along the optical axis
    bg_start: float = 0.5  # inverse depth where the background starts
    # 2D upsampler
    channel_base: int = 32768  # feature maps at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 1024
    conv_clamp: float | None = 256.0
    magnitude_ema: bool = True  # upsampler layers scale inputs by their tracked magnitude (w_avg buffers)
    magnitude_ema_beta: float = 0.999

    def __post_init__(self) -> None:
        self.range_u = tuple(float(v) for v in self.range_u)  # type: ignore[assignment]
        self.range_v = tuple(float(v) for v in self.range_v)  # type: ignore[assignment]
        self.depth_range = tuple(float(v) for v in self.depth_range)  # type: ignore[assignment]
        res, vol = self.resolution, self.resolution_vol
        for name, value in (("resolution", res), ("resolution_vol", vol)):
            if value < 4 or value & (value - 1):
                raise ValueError(f"{name} must be a power of two of at least 4, got {value}")
        if res <= vol:
            raise ValueError(f"resolution {res} must exceed resolution_vol {vol}: the upsampler needs a block")
        for name in ("z_dim", "w_dim", "mapping_layers", "rgb_out_dim", "fg_hidden", "bg_hidden", "pe_freqs",
                     "n_bg_samples", "channel_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.fg_blocks < 1 or self.bg_blocks < 1 or self.z_dim_bg < 0:
            raise ValueError("fg_blocks and bg_blocks must be at least 1 and z_dim_bg at least 0")
        if self.n_ray_samples < 3:
            raise ValueError(f"n_ray_samples must be at least 3, got {self.n_ray_samples}")
        if self.channel_base < 4 * res:
            raise ValueError(f"channel_base {self.channel_base} leaves fewer than 4 feature maps at {res}x{res}")
        if not 0 < self.fov < 180 or not self.radius > 0:
            raise ValueError("fov must be in (0, 180) degrees and radius positive")
        if not 0 < self.depth_range[0] < self.depth_range[1]:
            raise ValueError(f"depth_range must be increasing and positive, got {self.depth_range}")

    @property
    def block_resolutions(self) -> tuple[int, ...]:
        """Resolutions of the upsampler blocks: 2·resolution_vol ... resolution."""
        return tuple(2**k for k in range(int(math.log2(self.resolution_vol)) + 1, int(math.log2(self.resolution)) + 1))

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)


_FFHQ = {"z_dim": 512, "w_dim": 512}
PRESETS: dict[str, dict[str, object]] = {
    # The released FFHQ generators (facebook/stylenerf-ffhq-config-basic): 17, 19 and 21 W+ rows.
    "ffhq256": {**_FFHQ, "resolution": 256},
    "ffhq512": {**_FFHQ, "resolution": 512},
    "ffhq1024": {**_FFHQ, "resolution": 1024},
    # Small and fast, for tests and demos on a CPU: a 16² volume, two upsampler blocks to 64².
    "tiny": {
        "resolution": 64, "z_dim": 32, "w_dim": 32, "resolution_vol": 16, "rgb_out_dim": 32, "fg_hidden": 16,
        "bg_hidden": 16, "z_dim_bg": 8, "channel_base": 1024,
    },
}
