"""ArcFace identity embedders for FFHQ-aligned faces.

Two published families, chosen with ``backbone``:

- ``ir_se50``: TreB1eN's IR-SE-50 (``model_ir_se50.pth``), the network
  pSp, e4e and PTI compute their identity loss with. Input convention of
  their ``IDLoss.extract_feats`` (omertov/encoder4editing
  criteria/id_loss.py), applied to generator images in ``[-1, 1]``: average
  pool to 256x256, crop rows 35:223 and columns 32:220, average-pool the
  188x188 crop to 112x112.
- ``iresnet50`` / ``iresnet100``: insightface's arcface_torch backbones
  (``backbone.pth``), trained on faces warped to insightface's five-point
  112x112 template. For FFHQ-aligned images the warp is fixed: the
  similarity taking the FFHQ five-point template to that template.

``crop="auto"`` uses each family's own convention; ``"e4e"`` and
``"arcface"`` force one. Embeddings are L2-normalised.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from torch import Tensor

from lswap_core.interfaces import IdentityEmbedder, ImageConvention
from lswap_plugins.backbones.face_templates import ARCFACE_FIVE_POINTS_112, ffhq_five_points, similarity_transform
from lswap_plugins.backbones.iresnet import IRESNET_LAYERS, IResNet
from lswap_plugins.backbones.irse import IR_SE50_BLOCKS, IRSEBackbone

Backbone = Literal["ir_se50", "iresnet50", "iresnet100"]
PUBLISHED_BLOCKS: dict[str, tuple[int, ...]] = {"ir_se50": IR_SE50_BLOCKS, **IRESNET_LAYERS}
INPUT_SIZE = 112
E4E_POOL = 256  # e4e pools generator images to 256x256 before cropping
E4E_CROP = (32, 35, 220, 223)  # left, top, right, bottom in that 256x256 image (x[:, :, 35:223, 32:220])
ARCFACE_WORK_SIZE = 144  # images are first resized so that the template warp barely rescales (~1x)


@dataclasses.dataclass
class ArcFaceConfig:
    backbone: Backbone = "ir_se50"
    blocks: tuple[int, ...] | None = None  # blocks per stage; None: the published depth of `backbone`
    width: int = 64  # channels of the first stage
    embedding_dim: int = 512
    crop: Literal["auto", "e4e", "arcface"] = "auto"  # auto: e4e for ir_se50, arcface for iresnet

    def __post_init__(self) -> None:
        if self.blocks is not None and (len(self.blocks) != 4 or min(self.blocks) < 1):
            raise ValueError(f"blocks must give 4 stages of at least one block, got {self.blocks}")
        if self.width < 1 or self.embedding_dim < 1:
            raise ValueError("width and embedding_dim must be positive")

    @property
    def stage_blocks(self) -> tuple[int, ...]:
        return self.blocks if self.blocks is not None else PUBLISHED_BLOCKS[self.backbone]

    @property
    def crop_mode(self) -> Literal["e4e", "arcface"]:
        if self.crop != "auto":
            return self.crop
        return "e4e" if self.backbone == "ir_se50" else "arcface"


class ArcFaceEmbedder(IdentityEmbedder):
    """ArcFace identity embedder: IR-SE-50 (pSp/e4e/PTI) or insightface iresnet50/100 (512-d)."""

    name = "arcface"
    description = "ArcFace identity embedder: IR-SE-50 as in pSp/e4e/PTI, or insightface iresnet50/100"
    config_class = ArcFaceConfig
    presets = {
        "ir_se50": {"backbone": "ir_se50"},
        "iresnet50": {"backbone": "iresnet50"},
        "iresnet100": {"backbone": "iresnet100"},
    }

    def __init__(self, config: ArcFaceConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.backbone == "ir_se50":
            self.net = IRSEBackbone(cfg.stage_blocks, cfg.width, cfg.embedding_dim, INPUT_SIZE)
        else:
            self.net = IResNet(cfg.stage_blocks, cfg.width, cfg.embedding_dim, INPUT_SIZE)
        # Output pixels of the arcface warp, from a ARCFACE_WORK_SIZE² image (FFHQ template -> insightface template).
        self._arcface_matrix = similarity_transform(ffhq_five_points(ARCFACE_WORK_SIZE, ARCFACE_WORK_SIZE), ARCFACE_FIVE_POINTS_112)

    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    @property
    def input_convention(self) -> ImageConvention:
        size = (INPUT_SIZE, INPUT_SIZE)
        if self.config.crop_mode == "e4e":
            # e4e's face_pool (psp.py), then IDLoss.extract_feats' crop and pool.
            left, top, right, bottom = (value / E4E_POOL for value in E4E_CROP)
            return ImageConvention(size=size, crop=(left, top, right, bottom), resample="area", work_size=(E4E_POOL, E4E_POOL))
        matrix = tuple(tuple(float(v) for v in row) for row in self._arcface_matrix)
        return ImageConvention(size=size, work_size=(ARCFACE_WORK_SIZE, ARCFACE_WORK_SIZE), warp=matrix)  # type: ignore[arg-type]

    def forward(self, images: Tensor) -> Tensor:
        """The backbone on ``(N, 3, 112, 112)`` crops in ``[-1, 1]``."""
        return self.net(images)
