"""Architecture options of the e4e encoder and its named presets."""

from __future__ import annotations

import dataclasses

from lswap_plugins.backbones.irse import IR_SE50_BLOCKS, SE_REDUCTION

MAX_STYLE_COUNT = 20  # a 2048² StyleGAN2; more rows than any generator lswap builds


@dataclasses.dataclass
class E4EConfig:
    """Everything that shapes the encoder; exports store it, so a file rebuilds its inverter.

    The defaults are the official FFHQ encoder (``e4e_ffhq_encode.pt``):
    ``Encoder4Editing(50, 'ir_se', opts)`` with ``opts.stylegan_size = 1024``.
    """

    style_count: int = 18  # W+ rows: 2·log2(stylegan_size) − 2 (18 at 1024², 16 at 512², 14 at 256²)
    style_dim: int = 512  # width of one W row: the generator's w_dim
    blocks: tuple[int, ...] = IR_SE50_BLOCKS  # IR-SE units per body stage (IR-SE-50)
    width: int = 64  # channels of the first body stage; stage k has width·2^k, the FPN width·8 (512)
    input_size: int = 256  # side the images are resized to (the official transforms' Resize(256))

    def __post_init__(self) -> None:
        self.blocks = tuple(self.blocks)
        if not 1 <= self.style_count <= MAX_STYLE_COUNT:
            raise ValueError(f"style_count must be from 1 to {MAX_STYLE_COUNT}, got {self.style_count}")
        if self.style_dim < 1:
            raise ValueError(f"style_dim must be positive, got {self.style_dim}")
        if len(self.blocks) != 4 or min(self.blocks) < 1:
            raise ValueError(f"blocks must give 4 stages of at least one unit, got {self.blocks}")
        if self.width < SE_REDUCTION:
            raise ValueError(
                f"width must be at least {SE_REDUCTION} (the SE blocks divide it by that), got {self.width}"
            )
        side = self.input_size
        if side < 32 or side & (side - 1):
            # The deepest taps are input_size/16 wide and the heads halve them down to 1x1.
            raise ValueError(f"input_size must be a power of two of at least 32, got {side}")

    @property
    def fpn_channels(self) -> int:
        """Channels of the deepest tap ``c3`` and of the FPN maps built on it."""
        return self.width * 8


PRESETS: dict[str, dict[str, object]] = {
    # The official encoders: stylegan_size 1024 (FFHQ), 512 (cars), 256 (horse, church).
    "ffhq1024": {"style_count": 18},
    "res512": {"style_count": 16},
    "res256": {"style_count": 14},
    # A small encoder for tests and demos on a CPU, fitting the `tiny` StyleGAN2 preset (64², 10 x 64 codes).
    "tiny": {"style_count": 10, "style_dim": 64, "blocks": (1, 1, 2, 1), "width": 16, "input_size": 64},
}
