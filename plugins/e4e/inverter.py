"""The ``e4e`` inverter: one encoder pass per image, no optimisation.

What the official inference does (omertov/encoder4editing
``scripts/inference.py`` with ``utils/model_utils.load_e4e_standalone``):
an FFHQ-aligned photo is resized to 256x256 (``transforms.Resize((256, 256))``
on the PIL image), mapped to ``[-1, 1]``, encoded, and the checkpoint's
``latent_avg`` is added: ``codes = encoder(x) + latent_avg``. The codes are
W+ codes of the StyleGAN2 generator the encoder was trained with.

Resampling: PIL's bilinear resize of the official transforms filters over
the whole footprint of each output pixel when it shrinks an image; here the
tensors are resized with ``F.interpolate(mode="bilinear", antialias=True)``,
the same triangle filter (torchvision added ``antialias`` to match PIL), so
a 1024² aligned face reaches the encoder as the official pipeline feeds it,
without a round trip through 8-bit pixels.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import torch
from torch import Tensor

from lswap_core.conventions import ImageConvention, to_convention
from lswap_core.errors import IncompatibleLatentError
from lswap_core.interfaces import Generator, Inversion, Inverter, ProgressCallback

from .config import PRESETS, E4EConfig
from .network import Encoder4Editing


class E4EInverter(Inverter):
    """e4e (Encoder4Editing): W+ codes from one encoder pass per image."""

    name = "e4e"
    description = "e4e encoder (Encoder4Editing, IR-SE-50 + FPN): W+ codes in one pass, generator untouched"
    config_class = E4EConfig
    presets: ClassVar[dict[str, dict[str, object]]] = PRESETS
    tunes_generator = False

    def __init__(self, config: E4EConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.encoder = Encoder4Editing(cfg)
        # The official checkpoint's `latent_avg`: the generator's mean W, repeated per row.
        self.register_buffer("latent_avg", torch.zeros(cfg.style_count, cfg.style_dim))

    @property
    def input_convention(self) -> ImageConvention:
        """How images reach the encoder: the whole aligned face, resized (antialiased) to ``input_size``²."""
        size = self.config.input_size
        return ImageConvention(size=(size, size))

    def check_generator(self, generator: Generator) -> None:
        """Raise `IncompatibleLatentError` unless ``generator`` takes the codes this encoder makes."""
        rows, width = self.config.style_count, self.config.style_dim
        if (generator.num_ws, generator.w_dim) != (rows, width):
            size = generator.resolution
            raise IncompatibleLatentError(
                f"the e4e encoder makes {rows}x{width} codes; generator {generator.name!r} ({size}x{size}) "
                f"takes {generator.num_ws}x{generator.w_dim}",
                hint="use the generator the encoder was trained with (convert it with --format e4e-decoder)",
            )

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Prepared images ``(N, 3, S, S)`` (S = input_size) in ``[-1, 1]`` to ``(N, style_count, style_dim)`` codes."""
        return self.encoder(x) + self.latent_avg

    def invert(
        self,
        images: Tensor,
        generator: Generator,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        rng: torch.Generator | None = None,
        batch_size: int = 1,
    ) -> Inversion:
        """Encode aligned images; one step per ``batch_size`` images. The encoder draws no
        random numbers, so ``rng`` plays no part."""
        self.check_generator(generator)
        started = time.perf_counter()
        prepared = to_convention(images, self.input_convention).to(self.device, torch.float32)
        chunks = prepared.split(max(batch_size, 1))
        self.report_step(0, len(chunks), progress, cancel)
        codes = []
        for done, chunk in enumerate(chunks, 1):
            codes.append(self.encode(chunk))
            self.report_step(done, len(chunks), progress, cancel)
        return Inversion(torch.cat(codes).to(generator.device), seconds={"encoding": time.perf_counter() - started})
