"""Real photos into a generator: find the face, FFHQ-align it, invert it, and measure the result.

Model-agnostic: the face analyzer, the inverter, the generator and the
identity embedder are whatever plugins provide. `lswap invert` and the
real-photo swap are built on it.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from .faces import AlignedFace, align_face, pick_face
from .interfaces import FaceAnalyzer, Generator, IdentityEmbedder, Inversion, Inverter, ProgressCallback

Perceptual = Callable[[Tensor, Tensor], Tensor]  # two image batches in [-1, 1] -> a distance per image


@dataclasses.dataclass
class Photo:
    """One face of one photo, aligned for the generator."""

    path: Path
    face_index: int
    aligned: AlignedFace
    seconds: float  # reading, detecting and aligning


@dataclasses.dataclass
class Quality:
    """How well a reconstruction reproduces the aligned photo."""

    psnr: float  # dB, images in [0, 1]
    lpips: float | None  # LPIPS distance, when a perceptual network was given
    identity: float | None  # cosine of the identity embeddings, when an embedder was given

    def describe(self) -> str:
        parts = [f"PSNR {self.psnr:.2f} dB"]
        if self.lpips is not None:
            parts.append(f"LPIPS {self.lpips:.4f}")
        if self.identity is not None:
            parts.append(f"identity {self.identity:.3f}")
        return ", ".join(parts)


def align_photo(analyzer: FaceAnalyzer, path: Path, size: int, face_index: int | None = None) -> Photo:
    """Read ``path``, pick a face (``face_index`` left to right, else the largest) and align it at ``size``."""
    from .imaging import load_image

    started = time.perf_counter()
    image = load_image(path)
    index, face = pick_face(analyzer.detect(image), face_index, source=str(path))
    aligned = align_face(image, face.landmarks.to(image.device), size)
    return Photo(path, index, aligned, time.perf_counter() - started)


def invert_photos(
    inverter: Inverter,
    photos: list[Photo],
    generator: Generator,
    *,
    rng: torch.Generator,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Inversion:
    """Invert the aligned faces together (one call of the inverter)."""
    images = torch.stack([photo.aligned.image for photo in photos]).to(generator.device)
    return inverter.invert(images, generator, progress=progress, cancel=cancel, rng=rng)


@torch.no_grad()
def reconstruct(inversion: Inversion, generator: Generator) -> Tensor:
    """The images the inversion's codes give in its (tuned) generator, ``(N, 3, R, R)`` in ``[-1, 1]``."""
    tuned = inversion.apply(generator)
    return tuned.synthesis(inversion.ws.to(generator.device), noise_mode="const").clamp(-1, 1)


@torch.no_grad()
def measure(
    reconstruction: Tensor,
    photo: Tensor,
    *,
    lpips: Perceptual | None = None,
    embedder: IdentityEmbedder | None = None,
) -> Quality:
    """PSNR, LPIPS and identity cosine of one reconstruction ``(3, R, R)`` against its aligned photo."""
    a, b = reconstruction[None].float(), photo[None].to(reconstruction.device, torch.float32)
    mse = float(((a - b) / 2).square().mean())
    psnr = math.inf if mse == 0 else 10 * math.log10(1 / mse)
    distance = float(lpips(a, b).reshape(-1)[0]) if lpips is not None else None
    identity = None
    if embedder is not None:
        embedder_device = embedder.device
        embeddings = embedder.embed(torch.cat([a, b]).to(embedder_device))
        identity = float((embeddings[0] * embeddings[1]).sum())
    return Quality(psnr, distance, identity)
