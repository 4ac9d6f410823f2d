"""Swapping faces in real photos: align → invert → mix → render → paste back, with a report.

Model-agnostic: the face analyzer, the inverter, the generator, the mixer
and the identity embedder are whatever plugins provide. Either side may be
a generated face instead of a photo (its W+ code from a seed).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .errors import IncompatibleLatentError
from .faces.paste import DEFAULT_MASK, ColorMode, MaskOptions, paste_back
from .interfaces import FaceAnalyzer, Generator, IdentityEmbedder, Inversion, Inverter, ProgressCallback
from .inverting import Perceptual, Photo, Quality, measure
from .latents import LatentSpace
from .mixer import LatentMixer
from .swapping import swap_codes

POSE_DRIFT = 0.05  # mean landmark distance between swap and target, as a fraction of the crop, that warns


@dataclasses.dataclass
class Face:
    """One side of a swap: a face of a photo (to invert), or a generated face with its W+ code."""

    photo: Photo | None = None
    ws: Tensor | None = None  # (1, num_ws, w_dim) for a generated face
    label: str = ""  # how reports name it: the photo's path, or "seed N"

    @property
    def name(self) -> str:
        return self.label or (str(self.photo.path) if self.photo is not None else "generated")


@dataclasses.dataclass
class Inverted:
    """A face's W+ code and the generator that renders it (tuned by PTI), with the inversion's quality."""

    ws: Tensor
    generator: Generator
    reconstruction: Tensor  # (3, R, R): what the code gives in that generator
    quality: Quality | None  # None for a generated face
    seconds: dict[str, float]


@dataclasses.dataclass
class PhotoSwap:
    """A swap: the target photo with the swapped face pasted back, and what made it."""

    image: Tensor  # (3, H, W) in [-1, 1]: the target photo (or the rendered swap for a generated target)
    swap: Tensor  # (3, R, R): the swapped face as rendered, aligned
    mask: Tensor  # (1, H, W): where the photo was changed (0: untouched)
    source: Inverted
    target: Inverted
    swap_ws: Tensor
    report: dict[str, Any]
    aligned_source: Tensor  # (3, R, R): the source's aligned face (a generated face: its image)
    aligned_target: Tensor


class InversionCache:
    """Inversions of photos reused across pairs (a photo's e4e codes, or its own PTI generator in mode single)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, int], Inversion] = {}

    def get(self, photo: Photo) -> Inversion | None:
        return self._items.get((str(photo.path), photo.face_index))

    def put(self, photo: Photo, inversion: Inversion) -> None:
        self._items[(str(photo.path), photo.face_index)] = inversion


def inverts_alone(inverter: Inverter) -> bool:
    """Whether each photo can be inverted by itself (and reused): not a joint PTI mode."""
    return not inverter.tunes_generator or getattr(inverter.config, "mode", "single") == "single"


def invert_pair(
    inverter: Inverter,
    generator: Generator,
    source: Face,
    target: Face,
    *,
    rng: torch.Generator,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache: InversionCache | None = None,
    lpips: Perceptual | None = None,
    embedder: IdentityEmbedder | None = None,
) -> tuple[Inverted, Inverted]:
    """Codes and rendering generators of both sides.

    Photos are inverted together when the inverter tunes one generator for
    several images (PTI ``multi``, ``target``: the source first, the target
    last, so ``target`` tunes on the target); otherwise one by one, each
    photo's inversion taken from ``cache`` when it is there. A generated
    face keeps its code and the untuned generator.
    """
    photos = [face.photo for face in (source, target) if face.photo is not None]
    inversions: dict[int, Inversion] = {}
    if photos and not inverts_alone(inverter):
        images = torch.stack([photo.aligned.image for photo in photos]).to(generator.device)
        joint = inverter.invert(images, generator, progress=progress, cancel=cancel, rng=rng)
        for index, photo in enumerate(photos):
            inversions[id(photo)] = Inversion(joint.ws[index : index + 1], joint.generator_state, joint.seconds)
    else:
        for photo in photos:
            found = cache.get(photo) if cache is not None else None
            if found is not None:  # done for an earlier pair: no time spent now
                found = Inversion(found.ws, found.generator_state)
            else:
                image = photo.aligned.image[None].to(generator.device)
                found = inverter.invert(image, generator, progress=progress, cancel=cancel, rng=rng)
                if cache is not None:
                    cache.put(photo, found)
            inversions[id(photo)] = found
    return (
        _inverted(source, inversions, generator, lpips, embedder),
        _inverted(target, inversions, generator, lpips, embedder),
    )


def _inverted(
    face: Face,
    inversions: dict[int, Inversion],
    generator: Generator,
    lpips: Perceptual | None,
    embedder: IdentityEmbedder | None,
) -> Inverted:
    if face.photo is None:
        assert face.ws is not None
        ws = face.ws.to(generator.device)
        with torch.no_grad():
            image = generator.synthesis(ws, noise_mode="const").clamp(-1, 1)[0]
        return Inverted(ws, generator, image, None, {})
    inversion = inversions[id(face.photo)]
    tuned = inversion.apply(generator)
    with torch.no_grad():
        reconstruction = tuned.synthesis(inversion.ws.to(generator.device), noise_mode="const").clamp(-1, 1)[0]
    quality = measure(reconstruction, face.photo.aligned.image, lpips=lpips, embedder=embedder)
    return Inverted(inversion.ws.to(generator.device), tuned, reconstruction, quality, dict(inversion.seconds))


def mix(
    mixer: LatentMixer,
    generator: Generator,
    source_ws: Tensor,
    target_ws: Tensor,
    *,
    space: LatentSpace,
    groups: list[str] | None = None,
    strength: float = 1.0,
) -> Tensor:
    """W+ code of the swap of two W+ codes, in the mixer's space, with layer control."""
    if space.name == "z":
        raise IncompatibleLatentError(
            "this mixer works on Z codes, and photos have none (inverters give W or W+ codes)",
            hint="swap photos with a mixer trained in W or W+ (mixer.space)",
        )
    to_space = (lambda ws: ws) if space.name == "w+" else (lambda ws: ws.mean(dim=1))  # W: the rows' common code
    with torch.no_grad():
        return swap_codes(generator, mixer, space, to_space(source_ws), to_space(target_ws), groups=groups,
                          strength=strength, target_ws=target_ws)


def swap_faces(
    source: Face,
    target: Face,
    *,
    generator: Generator,
    mixer: LatentMixer,
    inverter: Inverter | None,
    space: LatentSpace,
    analyzer: FaceAnalyzer | None = None,
    embedder: IdentityEmbedder | None = None,
    lpips: Perceptual | None = None,
    groups: list[str] | None = None,
    strength: float = 1.0,
    mask_options: MaskOptions = DEFAULT_MASK,
    color: ColorMode = "mean-std",
    rng: torch.Generator | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache: InversionCache | None = None,
    edit: Callable[[Tensor], Tensor] | None = None,
) -> PhotoSwap:
    """Swap the source's identity into the target, pasted back into the target photo.

    :param inverter: needed when either side is a photo.
    :param analyzer: finds the swap's landmarks for the report (pose kept?).
    :param embedder: identity cosines for the report.
    :param edit: applied to the swap's W+ code before rendering (``lswap swap --edit``).
    """
    clock = _Clock()
    rng = rng if rng is not None else torch.Generator().manual_seed(0)
    if (source.photo is not None or target.photo is not None) and inverter is None:
        raise ValueError("an inverter is needed to swap photos")
    with clock("inversion"):
        if inverter is not None:
            inverted_source, inverted_target = invert_pair(
                inverter, generator, source, target, rng=rng, progress=progress, cancel=cancel, cache=cache,
                lpips=lpips, embedder=embedder,
            )
        else:
            inverted_source, inverted_target = _inverted(source, {}, generator, lpips, embedder), _inverted(target, {}, generator, lpips, embedder)
    with clock("mix"):
        swap_ws = mix(mixer, generator, inverted_source.ws, inverted_target.ws, space=space, groups=groups, strength=strength)
        if edit is not None:
            swap_ws = edit(swap_ws)
    with clock("render"), torch.no_grad():
        swap = inverted_target.generator.synthesis(swap_ws, noise_mode="const").clamp(-1, 1)[0]
    with clock("paste"):
        if target.photo is not None:
            aligned = target.photo.aligned
            pasted = paste_back(
                target.photo.image, swap.to(target.photo.image.device), aligned.transform, aligned.landmarks,
                aligned_target=aligned.image, mask_options=mask_options, color=color,
            )
            image, mask = pasted.image, pasted.mask
        else:
            image, mask = swap, torch.ones_like(swap[:1])
    with clock("report"):
        report = build_report(source, target, inverted_source, inverted_target, swap, mask, analyzer, embedder)
    report["seconds"] = {**_inversion_stages(inverted_source, inverted_target), **clock.seconds}
    return PhotoSwap(
        image, swap, mask, inverted_source, inverted_target, swap_ws, report,
        _aligned_image(source, inverted_source), _aligned_image(target, inverted_target),
    )


def swap_photos(
    source: str | Path,
    target: str | Path,
    *,
    generator: Generator,
    mixer: LatentMixer,
    inverter: Inverter,
    analyzer: FaceAnalyzer,
    embedder: IdentityEmbedder | None = None,
    source_face: int | None = None,
    target_face: int | None = None,
    space: LatentSpace | None = None,
    **options: Any,
) -> PhotoSwap:
    """Swap the face of photo ``source`` into photo ``target`` (the largest faces, or the numbered ones).

    ``options`` are those of `swap_faces` (``groups``, ``strength``,
    ``mask_options``, ``color``, ``rng``, ``lpips``, ``progress``, ``cancel``...).
    """
    from .inverting import align_photo
    from .swapping import latent_space_for

    size = generator.resolution
    source_photo = align_photo(analyzer, Path(source), size, source_face, option="source face")
    target_photo = align_photo(analyzer, Path(target), size, target_face, option="target face")
    return swap_faces(
        Face(photo=source_photo), Face(photo=target_photo), generator=generator, mixer=mixer, inverter=inverter,
        space=space if space is not None else latent_space_for(mixer), analyzer=analyzer, embedder=embedder, **options,
    )


def _inversion_stages(source: Inverted, target: Inverted) -> dict[str, float]:
    """Seconds of each inversion stage, both sides together (a joint inversion counts once)."""
    stages: dict[str, float] = {}
    sides = [source.seconds] if source.seconds is target.seconds else [source.seconds, target.seconds]
    for seconds in sides:
        for name, value in seconds.items():
            stages[name] = stages.get(name, 0.0) + value
    return stages


def build_report(
    source: Face,
    target: Face,
    inverted_source: Inverted,
    inverted_target: Inverted,
    swap: Tensor,
    mask: Tensor,
    analyzer: FaceAnalyzer | None,
    embedder: IdentityEmbedder | None,
) -> dict[str, Any]:
    """What the swap achieved: identity, pose, mask and inversion quality, with warnings."""
    report: dict[str, Any] = {
        "source": _side_report(source, inverted_source),
        "target": _side_report(target, inverted_target),
        "mask": {"pixels": int((mask > 0).sum()), "fraction": float((mask > 0).float().mean())},
        "warnings": [],
    }
    if embedder is not None:
        faces = torch.stack([swap, _aligned_image(source, inverted_source), _aligned_image(target, inverted_target)])
        with torch.no_grad():
            embedded = embedder.embed(faces.to(embedder.device))
        to_source, to_target = float(embedded[0] @ embedded[1]), float(embedded[0] @ embedded[2])
        target_to_source = float(embedded[2] @ embedded[1])
        report["identity"] = {"swap_to_source": to_source, "swap_to_target": to_target, "target_to_source": target_to_source}
        if to_source <= target_to_source:
            report["warnings"].append(
                f"the identity did not move toward the source (swap to source {to_source:.3f}, target to source "
                f"{target_to_source:.3f}): try --layers all, --strength 1, or a mixer trained longer"
            )
    report["landmarks"] = _pose_report(analyzer, swap, target, inverted_target, report["warnings"])
    return report


def _aligned_image(face: Face, inverted: Inverted) -> Tensor:
    return face.photo.aligned.image.to(inverted.reconstruction.device) if face.photo is not None else inverted.reconstruction


def _side_report(face: Face, inverted: Inverted) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": face.name}
    if face.photo is not None:
        entry["face_index"] = face.photo.face_index
        entry["reconstruction"] = dataclasses.asdict(inverted.quality) if inverted.quality is not None else None
    return entry


def _pose_report(
    analyzer: FaceAnalyzer | None, swap: Tensor, target: Face, inverted_target: Inverted, warnings: list[str]
) -> dict[str, Any] | None:
    """Mean distance between the swap's and the target's landmarks, in crop pixels and as a fraction of the crop."""
    if analyzer is None:
        return None
    from .faces import pick_face

    size = swap.shape[-1]
    found = analyzer.detect(swap.detach().cpu())
    if not found:
        warnings.append("no face was found in the swap: its pose cannot be compared with the target's")
        return {"mean_distance_px": None, "relative": None}
    _, face = pick_face(found)
    if target.photo is not None:
        reference = target.photo.aligned.landmarks.cpu().float()
    else:
        detected = analyzer.detect(inverted_target.reconstruction.detach().cpu())
        if not detected:
            return {"mean_distance_px": None, "relative": None}
        reference = pick_face(detected)[1].landmarks.cpu().float()
    distance = float((face.landmarks.cpu().float() - reference).norm(dim=1).mean())
    relative = distance / size
    if relative > POSE_DRIFT:
        warnings.append(
            f"the pose drifted: the swap's landmarks lie {distance:.1f} pixels ({relative:.1%} of the crop) from the "
            "target's on average; try --layers middle,fine1,fine2 to keep the target's coarse layers"
        )
    return {"mean_distance_px": distance, "relative": relative}


class _Clock:
    """Seconds per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str) -> Any:
        import contextlib

        @contextlib.contextmanager
        def timed() -> Any:
            started = time.perf_counter()
            try:
                yield
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return timed()

