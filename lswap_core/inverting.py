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

from .errors import InputError
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
    image: Tensor  # the whole photo, (3, H, W) in [-1, 1], upright


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


MIN_FACE_PIXELS = 64  # the side of the FFHQ crop in the photo below which a face is too small to align


def align_photo(
    analyzer: FaceAnalyzer, path: Path, size: int, face_index: int | None = None, *, option: str = "--face"
) -> Photo:
    """Read ``path``, pick a face (``face_index`` left to right, else the largest) and align it at ``size``.

    :raises NoFaceError: no face; `InputError`: the index is out of range (``option`` names it), or the face is too small.
    """
    from .imaging import load_image

    started = time.perf_counter()
    image = load_image(path)
    index, face = pick_face(analyzer.detect(image), face_index, source=str(path), option=option)
    return _aligned(path, image, index, face.landmarks, size, started)


def align_every_face(analyzer: FaceAnalyzer, path: Path, size: int) -> list[Photo]:
    """Every face of ``path``, numbered left to right, aligned at ``size``."""
    from .faces import no_face_error, order_faces
    from .imaging import load_image

    started = time.perf_counter()
    image = load_image(path)
    faces = order_faces(analyzer.detect(image))
    if not faces:
        raise no_face_error(str(path))
    return [_aligned(path, image, index, face.landmarks, size, started) for index, face in enumerate(faces)]


def _aligned(path: Path, image: Tensor, index: int, landmarks: Tensor, size: int, started: float) -> Photo:
    aligned = align_face(image, landmarks.to(image.device), size)
    across = aligned.transform.scale * aligned.transform.size
    if across < MIN_FACE_PIXELS:
        raise InputError(
            f"face {index} of {path} is {across:.0f} pixels across; at least {MIN_FACE_PIXELS} are needed to align it",
            hint="use a larger photo of the face",
        )
    return Photo(path, index, aligned, time.perf_counter() - started, image)


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
