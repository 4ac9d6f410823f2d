"""The ``faceapi`` identity embedder: face-api's 128-d descriptor net behind `IdentityEmbedder`.

Input convention. dlib trained the net on 150×150 "face chips": a
similarity transform puts 33 inner-face landmarks on a template with 25 %
padding (``get_face_chip_details(shape, 150, 0.25)`` in dlib's
``image_transforms/interpolation.h``). The generators' images are FFHQ-aligned
instead (an eye/mouth square, ffhq-dataset). Both alignments remove scale and
rotation, so the dlib chip sits at a nearly fixed square of an FFHQ-aligned
image: `FFHQ_DLIB_CHIP_CROP`, the mean of that square over the seven faces of
the test photos (spread: centre ±0.013, side ±0.034, residual rotation within
±4.4°). Embedding an FFHQ-aligned face through it gives dlib's own descriptor
of dlib's chip to a cosine of 0.990–0.998 on those faces, while different
people stay below 0.93. Use the ``dlib-chip`` preset (``crop=(0, 0, 1, 1)``)
for images that already are dlib chips.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor

from lswap_core.interfaces import IdentityEmbedder, ImageConvention

from .recognition import INPUT_SIZE, FaceRecognitionNet

# (left, top, right, bottom) of dlib's 150² chip (padding 0.25) in an FFHQ-aligned image, as fractions.
FFHQ_DLIB_CHIP_CROP = (0.154, 0.264, 0.830, 0.941)


@dataclasses.dataclass
class FaceApiEmbedderConfig:
    # Box of the incoming aligned image the net sees, as fractions (left, top, right, bottom).
    # The default maps an FFHQ-aligned face to dlib's chip; (0, 0, 1, 1) for inputs that are chips.
    crop: tuple[float, float, float, float] = FFHQ_DLIB_CHIP_CROP

    def __post_init__(self) -> None:
        left, top, right, bottom = self.crop
        if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
            raise ValueError(f"crop must be a box inside (0, 0, 1, 1), got {self.crop}")


class FaceApiEmbedder(IdentityEmbedder):
    """face-api's 128-d face descriptor (dlib's ResNet metric net), 150² input."""

    name = "faceapi"
    description = "face-api 128-d face descriptor (dlib ResNet metric net, 150x150)"
    config_class = FaceApiEmbedderConfig
    presets = {"dlib-chip": {"crop": (0.0, 0.0, 1.0, 1.0)}}

    def __init__(self, config: FaceApiEmbedderConfig | None = None) -> None:
        super().__init__(config)
        self.net = FaceRecognitionNet()

    @property
    def embedding_dim(self) -> int:
        return 128

    @property
    def input_convention(self) -> ImageConvention:
        return ImageConvention(size=(INPUT_SIZE, INPUT_SIZE), crop=self.config.crop)

    def forward(self, images: Tensor) -> Tensor:
        """The descriptor net on ``(N, 3, 150, 150)`` chips in ``[-1, 1]``."""
        return self.net(images)

    def descriptors(self, images: Tensor) -> Tensor:
        """face-api's raw descriptors ``(N, 128)`` (not normalised; same-person pairs lie within about 0.6).

        :param images: ``(N, 3, H, W)`` in ``[-1, 1]``; cropped and resized to 150² by `input_convention`.
        """
        return self(self.prepare(images))
