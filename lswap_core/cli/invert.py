"""``lswap invert``: real photos into a generator, with the reconstruction and its quality."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import DeviceOption, GeneratorOption, InitSeedOption, OverwriteOption, PresetOption, SetOption, WeightsOption
from .output import stdout_console

if TYPE_CHECKING:
    import torch

    from ..generator_records import GeneratorRecord
    from ..interfaces import FaceAnalyzer, Generator, IdentityEmbedder, Inversion, Inverter
    from ..inverting import Perceptual, Photo, Quality


def invert_command(
    photos: Annotated[list[Path], typer.Argument(metavar="PHOTO", help="One or more photos.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", show_default=False)],
    inverter: Annotated[str, typer.Option("--inverter", "-i", help="Registered inverter: pti, e4e...")] = "pti",
    inverter_weights: Annotated[
        str | None,
        typer.Option("--inverter-weights", help="Inverter export or asset name (e4e: e4e-ffhq).", show_default=False),
    ] = None,
    inverter_preset: Annotated[
        str | None,
        typer.Option("--inverter-preset", help="Named inverter settings: pti official, fast, draft, tiny; e4e tiny.", show_default=False),
    ] = None,
    sets: SetOption = None,
    generator: GeneratorOption = "stylegan2",
    weights: WeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    face: Annotated[
        int | None,
        typer.Option("--face", help="Which face of each photo, counting from 0 left to right (default: the largest).", show_default=False),
    ] = None,
    analyzer: Annotated[str, typer.Option("--analyzer", help="Face analyzer that finds the faces.")] = "faceapi",
    analyzer_weights: Annotated[str, typer.Option("--analyzer-weights", help="Its export or asset name.")] = "faceapi",
    embedder: Annotated[str, typer.Option("--embedder", help="Identity embedder of the quality report.")] = "faceapi",
    embedder_weights: Annotated[str, typer.Option("--embedder-weights", help="Its export or asset name.")] = "faceapi",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the inversion's random draws.")] = 0,
    precision: Annotated[str, typer.Option("--precision", help="Invert in fp32, bf16 or fp16 (optimisers stay fp32).")] = "fp32",
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Invert the face of each photo into a generator.

    Per photo, into --out: PHOTO_aligned.png (the FFHQ-aligned face, with the
    transform back to the photo in PHOTO_aligned.json), PHOTO_reconstruction.png
    and PHOTO.inversion.safetensors (the W+ codes and, for PTI, the tuned
    generator tensors), and a line with the reconstruction's PSNR, LPIPS and
    identity cosine and the time per stage. Photos already inverted there are
    skipped (--overwrite inverts them again). PTI in mode multi or target
    (--set inverter.mode=multi) inverts all photos together. Ctrl-C stops at
    the next step; nothing half-done is written.
    """
    import torch

    from ..devices import resolve_device
    from ..errors import InputError
    from ..latents import check_seed
    from ..registry import load_inverter
    from .common import build_generator

    from ..precision import autocast, check_precision

    options = _inverter_options(sets or [])
    check_seed(seed, "--seed")
    check_precision(precision)
    if face is not None and face < 0:
        raise InputError(f"--face must be 0 or more, got {face}", hint="faces are numbered from 0, left to right")
    plan = _Plan(out, photos, overwrite=overwrite)
    todo = plan.todo()
    if not todo:
        stdout_console().print(f"nothing to do: every photo is inverted in {out} already (--overwrite inverts them again)")
        return
    if weights is None and preset is None:
        raise InputError("no generator given", hint="pass --weights FILE (an export or asset name) or --preset NAME")
    target = resolve_device(device)
    model = build_generator(generator, weights, preset, target, init_seed=init_seed)
    method = load_inverter(inverter, weights=inverter_weights, preset=inverter_preset, device=target, **options)
    context = _Context(model, method, generator_record(model, weights, preset, init_seed))
    analyzer_model, embedder_model = _face_networks(analyzer, analyzer_weights, embedder, embedder_weights, target)
    lpips = _lpips_of(method)
    out.mkdir(parents=True, exist_ok=True)
    joint = method.tunes_generator and getattr(method.config, "mode", "single") != "single"
    groups = [todo] if joint else [[path] for path in todo]
    console = stdout_console()
    for group in groups:
        aligned = [_align(analyzer_model, path, model.resolution, face) for path in group]
        with autocast(model.device, precision):  # type: ignore[arg-type]
            inversion = _invert(context, aligned, torch.Generator().manual_seed(seed))
        for index, photo in enumerate(aligned):
            quality = _write_outputs(context, plan, photo, inversion, index, lpips, embedder_model)
            stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in {"align": photo.seconds, **inversion.seconds}.items())
            console.print(f"{photo.path}: face {photo.face_index}, {quality.describe()}; {stages}")
    skipped = len(photos) - len(todo)
    if skipped:
        console.print(f"skipped {skipped} photo(s) already inverted in {out} (--overwrite inverts them again)")


def _inverter_options(sets: list[str]) -> dict[str, Any]:
    """``--set inverter.KEY=VALUE`` overrides as keyword options of the inverter."""
    from .common import component_options

    return component_options(sets, "inverter", "invert", "inverter.tuning_steps=100")


def generator_record(model: Generator, weights: Path | None, preset: str | None, init_seed: int | None) -> GeneratorRecord:
    from ..generator_records import GeneratorRecord

    return GeneratorRecord.of(model, weights=weights, preset=preset, init_seed=init_seed if weights is None else None)


class _Context:
    """The generator, the inverter and the generator's record, for every photo."""

    def __init__(self, generator: Generator, inverter: Inverter, record: GeneratorRecord) -> None:
        self.generator, self.inverter, self.record = generator, inverter, record


class _Plan:
    """Where each photo's outputs go, and which photos are done already."""

    def __init__(self, out: Path, photos: list[Path], *, overwrite: bool) -> None:
        from collections import Counter

        from ..errors import InputError

        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out} is a file", hint="choose a folder")
        stem, count = Counter(path.stem for path in photos).most_common(1)[0]
        if count > 1:
            raise InputError(f"{count} photos are named {stem}: their outputs would overwrite each other", hint="invert them into separate --out folders")
        self.out, self.photos, self.overwrite = out, photos, overwrite

    def outputs(self, photo: Path) -> dict[str, Path]:
        return {
            "aligned": self.out / f"{photo.stem}_aligned.png",
            "record": self.out / f"{photo.stem}_aligned.json",
            "reconstruction": self.out / f"{photo.stem}_reconstruction.png",
            "inversion": self.out / f"{photo.stem}.inversion.safetensors",
        }

    def todo(self) -> list[Path]:
        return [photo for photo in self.photos if self.overwrite or not all(path.exists() for path in self.outputs(photo).values())]


def _face_networks(
    analyzer: str, analyzer_weights: str, embedder: str, embedder_weights: str, device: torch.device
) -> tuple[FaceAnalyzer, IdentityEmbedder]:
    from ..registry import load_embedder, load_face_analyzer

    return (
        load_face_analyzer(analyzer, weights=analyzer_weights, device=device),
        load_embedder(embedder, weights=embedder_weights, device=device),
    )


def _lpips_of(inverter: Inverter) -> Perceptual | None:
    """The inverter's own LPIPS network, when it has one (PTI), for the report."""
    return getattr(inverter, "lpips", None)


def _align(analyzer: FaceAnalyzer, path: Path, size: int, face: int | None) -> Photo:
    from ..errors import InputError
    from ..inverting import align_photo

    if not path.exists():
        raise InputError(f"photo {path} does not exist", hint="check the path")
    return align_photo(analyzer, path, size, face)


def _invert(context: _Context, photos: list[Photo], rng: torch.Generator) -> Inversion:
    from ..errors import Cancelled, Interrupted
    from ..inverting import invert_photos
    from ..progress import progress_bar
    from ..training.interrupts import deferred_interrupt

    names = ", ".join(str(photo.path) for photo in photos)
    with progress_bar(None, f"inverting {photos[0].path.name}" + (f" +{len(photos) - 1}" if len(photos) > 1 else "")) as bar, deferred_interrupt() as guard:
        reported = 0

        def progress(done: int, total: int) -> None:
            nonlocal reported
            bar.set_total(total)
            bar.advance(done - reported)
            reported = done

        try:
            return invert_photos(context.inverter, photos, context.generator, rng=rng, progress=progress, cancel=guard.stop)
        except Cancelled:
            raise Interrupted(f"stopped while inverting {names}; nothing was written for it", hint="run the same command again to go on") from None


def _write_outputs(
    context: _Context,
    plan: _Plan,
    photo: Photo,
    inversion: Inversion,
    index: int,
    lpips: Perceptual | None,
    embedder: IdentityEmbedder | None,
) -> Quality:
    """Write one photo's files (the inversion last: a photo counts as done once it is there)."""
    import json

    from ..files import atomic_path
    from ..imaging import save_image
    from ..interfaces import Inversion as InversionResult
    from ..inversions import save_inversion
    from ..inverting import measure, reconstruct

    own = InversionResult(inversion.ws[index : index + 1], inversion.generator_state, inversion.seconds)
    reconstruction = reconstruct(own, context.generator)[0]
    quality = measure(reconstruction, photo.aligned.image, lpips=lpips, embedder=embedder)
    files = plan.outputs(photo.path)
    record = {"source": str(photo.path), "face_index": photo.face_index, **photo.aligned.transform.to_dict(),
              "landmarks": photo.aligned.landmarks.tolist()}
    save_image(files["aligned"], photo.aligned.image)
    with atomic_path(files["record"]) as temp:
        temp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    save_image(files["reconstruction"], reconstruction)
    save_inversion(
        files["inversion"],
        own,
        generator=context.record,
        inverter=context.inverter.name,
        inverter_config=context.inverter.config_dict(),
        source={"photo": str(photo.path), "face_index": photo.face_index, "quality": quality.__dict__, "seconds": inversion.seconds},
    )
    return quality
