"""Architecture options of the StyleGAN2 generator and its named presets."""

from __future__ import annotations

import dataclasses
import math

MIN_RESOLUTION = 8
MAX_RESOLUTION = 2048


@dataclasses.dataclass
class StyleGAN2Config:
    """Everything that shapes the network; exports store it, so a file rebuilds its generator.

    The names follow the constructor arguments of NVlabs' ``training/networks.py``
    (``Generator``, ``MappingNetwork``, ``SynthesisNetwork``).
    """

    resolution: int = 1024  # output side: a power of two (the official networks: 32 to 1024)
    z_dim: int = 512  # input noise width
    w_dim: int = 512  # width of one W row
    channel_base: int = 32768  # feature maps at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 512
    mapping_layers: int = 8  # fully connected layers of the mapping network
    mapping_lr_multiplier: float = 0.01  # equalised learning rate of the mapping (scales its forward pass)
    w_avg_beta: float | None = 0.995  # decay of the W average tracked in training mode; None: no tracking
    conv_clamp: float | None = None  # clamp conv outputs to +-conv_clamp (256 in stylegan2-ada configs)
    num_fp16_res: int = 0  # highest resolutions synthesised under float16 autocast (NVlabs' GPU configs: 4)

    def __post_init__(self) -> None:
        res = self.resolution
        if not (MIN_RESOLUTION <= res <= MAX_RESOLUTION and res & (res - 1) == 0):
            raise ValueError(
                f"resolution must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}, got {res}"
            )
        for name in ("z_dim", "w_dim", "channel_max", "mapping_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.channel_base < res:
            raise ValueError(
                f"channel_base {self.channel_base} leaves no feature maps at {res}x{res}; "
                f"it must be at least the resolution"
            )
        if not self.mapping_lr_multiplier > 0:
            raise ValueError(f"mapping_lr_multiplier must be positive, got {self.mapping_lr_multiplier}")
        if self.w_avg_beta is not None and not 0 <= self.w_avg_beta < 1:
            raise ValueError(f"w_avg_beta must be in [0, 1) or null, got {self.w_avg_beta}")
        if self.conv_clamp is not None and not self.conv_clamp > 0:
            raise ValueError(f"conv_clamp must be positive or null, got {self.conv_clamp}")
        if not 0 <= self.num_fp16_res <= len(self.block_resolutions):
            raise ValueError(f"num_fp16_res must be between 0 and {len(self.block_resolutions)}, got {self.num_fp16_res}")

    @property
    def block_resolutions(self) -> tuple[int, ...]:
        """Resolutions of the synthesis blocks: 4, 8, ... resolution."""
        return tuple(2**k for k in range(2, int(math.log2(self.resolution)) + 1))

    def channels(self, res: int) -> int:
        """Feature maps of the block at resolution ``res``."""
        return min(self.channel_base // res, self.channel_max)


PRESETS: dict[str, dict[str, object]] = {
    # Config F of the StyleGAN2 paper: the official FFHQ 1024x1024 network.
    "ffhq1024": {"resolution": 1024, "channel_base": 32768, "channel_max": 512, "conv_clamp": None},
    # stylegan2-ada's `paper256` configuration (half the feature maps, clamped convolutions).
    "paper256": {"resolution": 256, "channel_base": 16384, "channel_max": 512, "conv_clamp": 256.0},
    # A small network for tests and demos on a CPU: 64x64 images, 32 feature maps at most.
    "tiny": {"resolution": 64, "z_dim": 64, "w_dim": 64, "channel_base": 1024, "channel_max": 32},
}
