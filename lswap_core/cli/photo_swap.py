"""``lswap swap`` with photos: pairs of faces, their outputs, reports and failures.

A side is a photo, a folder of photos, or a seed (a generated face). Each
pair's output is the target photo with the source's face pasted in, and a
JSON report beside it. In a batch, an output already there is skipped (a
re-run resumes) and a pair that fails is reported while the others go on.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, Interrupted, LswapError

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    import torch

    from ..faces.paste import MaskOptions
    from ..generator_records import GeneratorRecord
    from ..interfaces import FaceAnalyzer, Generator, IdentityEmbedder, Inverter, ProgressCallback
    from ..latents import LatentSpace
    from ..mixer import LatentMixer
    from ..photo_swap import Face, InversionCache, PhotoSwap

PAIRINGS = ("all", "zip")


@dataclasses.dataclass(frozen=True)
class Side:
    """A photo file or a seed."""

    photo: Path | None = None
    seed: int | None = None

    @property
    def stem(self) -> str:
        return self.photo.stem if self.photo is not None else f"seed{self.seed:04d}"

    @property
    def label(self) -> str:
        return str(self.photo) if self.photo is not None else f"seed {self.seed}"


def sides(path: Path | None, seed: int | None, what: str) -> list[Side]:
    """The photos of a file or folder, or one seed."""
    from ..imaging import IMAGE_SUFFIXES

    if (path is None) == (seed is None):
        raise InputError(f"give --{what} PHOTO|FOLDER or --{what}-seed N (one of them)")
    if seed is not None:
        return [Side(seed=seed)]
    assert path is not None
    if not path.exists():
        raise InputError(f"--{what} {path} does not exist", hint="check the path")
    if path.is_dir():
        photos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise InputError(f"--{what} {path} holds no photos", hint=f"photos end in one of {', '.join(IMAGE_SUFFIXES)}")
        return [Side(photo=p) for p in photos]
    return [Side(photo=path)]


def pair_up(sources: list[Side], targets: list[Side], pairs: str) -> list[tuple[Side, Side]]:
    """``all``: every source with every target; ``zip``: in order; else a CSV file of ``source,target`` paths."""
    if pairs == "all":
        return [(source, target) for target in targets for source in sources]
    if pairs == "zip":
        if len(sources) != len(targets):
            raise InputError(f"--pairs zip needs as many sources as targets, got {len(sources)} and {len(targets)}")
        return list(zip(sources, targets))
    return _pairs_from_csv(Path(pairs))


def _pairs_from_csv(path: Path) -> list[tuple[Side, Side]]:
    if not path.is_file():
        raise InputError(f"--pairs {path}: not all, zip or a CSV file", hint="e.g. --pairs pairs.csv with lines source.jpg,target.jpg")
    result = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), 1):
            cells = [cell.strip() for cell in row if cell.strip()]
            if not cells or cells[0].startswith("#") or (number == 1 and [c.lower() for c in cells] == ["source", "target"]):
                continue
            if len(cells) != 2:
                raise InputError(f"{path} line {number}: expected source,target, got {len(cells)} value(s)")
            source, target = ((p if p.is_absolute() else path.parent / p) for p in map(Path, cells))
            result.append((Side(photo=source), Side(photo=target)))
    if not result:
        raise InputError(f"{path} lists no pairs", hint="one source,target pair per line")
    return result


@dataclasses.dataclass
class Outputs:
    """Where one pair's files go."""

    image: Path
    grid: bool
    save_aligned: bool
    save_codes: bool

    @property
    def report(self) -> Path:
        return self.image.with_suffix(".json")

    def extra(self) -> dict[str, Path]:
        files = {}
        stem, folder = self.image.stem, self.image.parent
        if self.grid:
            files["grid"] = folder / f"{stem}_grid.png"
        if self.save_aligned:
            files.update({name: folder / f"{stem}_{name}.png" for name in ("source", "target", "swap")})
        if self.save_codes:
            files["codes"] = folder / f"{stem}.codes.safetensors"
        return files

    def all(self) -> list[Path]:
        return [self.image, self.report, *self.extra().values()]

    def done(self) -> bool:
        return all(path.exists() for path in self.all())


@dataclasses.dataclass
class Loaded:
    """The networks, loaded once for all pairs, and how they are named in reports."""

    generator: Generator
    record: GeneratorRecord
    mixer: LatentMixer
    space: LatentSpace
    inverter: Inverter | None  # None when no side is a photo
    analyzer: FaceAnalyzer | None
    embedder: IdentityEmbedder | None
    components: dict[str, Any]


@dataclasses.dataclass
class SwapJob:
    """The networks and the settings of every pair."""

    loaded: Loaded
    settings: dict[str, Any]
    groups: list[str] | None
    strength: float
    mask_options: MaskOptions
    color: str
    seed: int
    source_face: int | None
    target_face: int | str | None  # an index, None (the largest) or "all"
    cache: InversionCache
    edit: Callable[[torch.Tensor], torch.Tensor] | None = None  # --edit, applied to each swap's code
    precision: str = "fp32"  # autocast of rendering, inverting and judging

    @property
    def generator(self) -> Generator:
        return self.loaded.generator


def output_for(out: Path, batch: bool, source: Side, target: Side, suffix: str) -> Path:
    return out / f"{target.stem}__{source.stem}{suffix}" if batch else out


def run_pair(job: SwapJob, source: Side, target: Side, outputs: Outputs) -> list[PhotoSwap]:
    """Swap one pair and write its files (the report last: a pair counts as done once it is there)."""
    from ..progress import progress_bar
    from ..training.interrupts import deferred_interrupt

    size = job.generator.resolution
    source_face = _face(job, source, size, job.source_face, "--source-face")
    target_faces = _target_faces(job, target, size)
    with progress_bar(None, f"{target.stem} <- {source.stem}") as bar, deferred_interrupt() as guard:
        reported = 0

        def progress(done: int, total: int) -> None:
            nonlocal reported
            bar.set_total(total)
            bar.advance(done - reported)
            reported = done

        results = _swap_each(job, source_face, target_faces, progress, guard.stop, source, target)
    _write(job, results, source, target, outputs)
    return results


def _swap_each(
    job: SwapJob,
    source_face: Face,
    target_faces: list[Face],
    progress: ProgressCallback,
    cancel: threading.Event,
    source: Side,
    target: Side,
) -> list[PhotoSwap]:
    """Swap into each chosen face of the target in turn, pasting into the photo as it becomes."""
    import torch

    from ..errors import Cancelled, Interrupted
    from ..photo_swap import swap_faces
    from ..precision import autocast

    results = []
    running = None
    for face in target_faces:
        if running is not None and face.photo is not None:
            face = dataclasses.replace(face, photo=dataclasses.replace(face.photo, image=running))
        try:
            with autocast(job.generator.device, job.precision):  # type: ignore[arg-type]
                result = swap_faces(
                    source_face, face, generator=job.generator, mixer=job.loaded.mixer, inverter=job.loaded.inverter,
                    space=job.loaded.space, analyzer=job.loaded.analyzer, embedder=job.loaded.embedder,
                    lpips=getattr(job.loaded.inverter, "lpips", None), groups=job.groups, strength=job.strength,
                    mask_options=job.mask_options, color=job.color,  # type: ignore[arg-type]
                    rng=torch.Generator().manual_seed(job.seed), progress=progress, cancel=cancel, cache=job.cache,
                    edit=job.edit,
                )
        except Cancelled:
            raise Interrupted(
                f"stopped while swapping {source.label} into {target.label}; nothing was written for that pair",
                hint="run the same command again to go on",
            ) from None
        running = result.image
        results.append(result)
    return results


def _face(job: SwapJob, side: Side, size: int, index: int | None, option: str) -> Face:
    from ..inverting import align_photo
    from ..latents import z_from_seeds
    from ..photo_swap import Face

    if side.photo is None:
        assert side.seed is not None
        z = z_from_seeds([side.seed], job.generator.z_dim).to(job.generator.device)
        import torch

        with torch.no_grad():
            ws = job.loaded.space.to_wplus(job.generator, job.loaded.space.encode(job.generator, z))
        return Face(ws=ws, label=side.label)
    assert job.loaded.analyzer is not None
    return Face(photo=align_photo(job.loaded.analyzer, side.photo, size, index, option=option), label=side.label)


def _target_faces(job: SwapJob, side: Side, size: int) -> list[Face]:
    from ..inverting import align_every_face
    from ..photo_swap import Face

    if job.target_face == "all" and side.photo is not None:
        assert job.loaded.analyzer is not None
        return [Face(photo=photo, label=side.label) for photo in align_every_face(job.loaded.analyzer, side.photo, size)]
    index = job.target_face if isinstance(job.target_face, int) else None
    return [_face(job, side, size, index, "--target-face")]


def _write(job: SwapJob, results: list[PhotoSwap], source: Side, target: Side, outputs: Outputs) -> None:
    from ..files import atomic_write_text
    from ..imaging import photo_mode, save_image, save_image_as, save_labelled_grid

    final = results[-1]
    mode = photo_mode(target.photo) if target.photo is not None else "RGB"
    save_image_as(outputs.image, final.image, mode)
    extra = outputs.extra()
    first = results[0]
    if "grid" in extra:
        rows = [[r.aligned_source, r.aligned_target, r.swap, r.target.reconstruction] for r in results]
        save_labelled_grid(rows, ["source", "target", "swap", "inverted target"], extra["grid"])
    if "source" in extra:
        save_image(extra["source"], first.aligned_source)
        save_image(extra["target"], first.aligned_target)
        save_image(extra["swap"], first.swap)
    if "codes" in extra:
        _save_codes(extra["codes"], job, results)
    report = {
        "output": str(outputs.image),
        "source": source.label,
        "target": target.label,
        "faces": [r.report for r in results],
        "settings": job.settings,
        "components": job.loaded.components,
        "versions": _versions(),
    }
    atomic_write_text(outputs.report, json.dumps(report, indent=1, default=str))


def _save_codes(path: Path, job: SwapJob, results: list[PhotoSwap]) -> None:
    import dataclasses as dc

    from ..checkpoints import save_export

    tensors = {}
    for index, result in enumerate(results):
        tensors[f"face{index}/source_ws"] = result.source.ws
        tensors[f"face{index}/target_ws"] = result.target.ws
        tensors[f"face{index}/swap_ws"] = result.swap_ws
        tuned = result.target.generator
        if tuned is not job.generator:
            original = job.generator.state_dict()
            for name, tensor in tuned.state_dict().items():
                if not tensor.equal(original[name]):
                    tensors[f"face{index}/tuned/{name}"] = tensor
    save_export(path, kind="swap_codes", name=job.generator.name, config=job.settings, tensors=tensors,
                records={"generator": dc.asdict(job.loaded.record)})


def _versions() -> dict[str, str]:
    import torch

    from ..version import __version__

    return {"lswap": __version__, "torch": torch.__version__, "python": platform.python_version()}


def describe(result: PhotoSwap) -> str:
    """The terminal's one-line summary of a swap."""
    report = result.report
    parts = []
    identity = report.get("identity")
    if identity:
        parts.append(f"identity to source {identity['swap_to_source']:.3f} (target was {identity['target_to_source']:.3f})")
    landmarks = report.get("landmarks") or {}
    if landmarks.get("relative") is not None:
        parts.append(f"landmark shift {landmarks['relative']:.1%}")
    parts.append(f"mask {report['mask']['fraction']:.1%} of the photo")
    seconds = report.get("seconds", {})
    parts.append(f"{sum(v for k, v in seconds.items() if k in ('inversion', 'mix', 'render', 'paste', 'report')):.1f} s")
    return ", ".join(parts)


def failure_line(error: LswapError, source: Side, target: Side) -> str:
    return f"{target.label} <- {source.label}: {error}"


def swap_photos_command(
    *,
    mixer: Path,
    source: Path | None,
    target: Path | None,
    source_seed: int | None,
    target_seed: int | None,
    out: Path,
    generator: str | None,
    weights: Path | None,
    preset: str | None,
    init_seed: int | None,
    layers: str,
    strength: float,
    inverter: str,
    inverter_weights: str | None,
    inverter_preset: str | None,
    sets: list[str],
    source_face: int | None,
    target_face: str | None,
    pairs: str,
    mask_blur: float,
    mask_grow: float,
    color: str,
    grid: bool,
    save_aligned: bool,
    save_codes: bool,
    analyzer: str,
    analyzer_weights: str,
    embedder: str,
    embedder_weights: str,
    seed: int,
    trunc: float | None,
    trunc_cutoff: int | None,
    device: str,
    overwrite: bool,
    edit_options: tuple[list[str], str, str | None, str | None],
    precision: str = "fp32",
) -> None:
    """`lswap swap` when a side is a photo: check everything, load once, swap each pair."""
    import typer

    from ..editing import parse_edit
    from ..faces.paste import COLOR_MODES, MaskOptions
    from ..latents import check_seed
    from ..layers import parse_groups
    from ..photo_swap import InversionCache
    from .failures import Failure
    from .output import debug_mode, report_failure, report_warning, stdout_console

    for value, what in ((source_seed, "--source-seed"), (target_seed, "--target-seed")):
        if value is not None:
            check_seed(value, what)
    check_seed(seed, "--seed")
    source_sides, target_sides = sides(source, source_seed, "source"), sides(target, target_seed, "target")
    pair_list = pair_up(source_sides, target_sides, pairs)
    batch = len(pair_list) > 1 or (source is not None and source.is_dir()) or (target is not None and target.is_dir())
    suffix = _check_out(out, batch, target_sides)
    groups = parse_groups(layers)
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"--strength must be between 0 and 1, got {strength}")
    if color not in COLOR_MODES:
        raise InputError(f"unknown --color {color!r}", hint=f"use one of {', '.join(COLOR_MODES)}")
    mask_options = MaskOptions(grow=mask_grow, blur=mask_blur)
    for text in edit_options[0]:
        parse_edit(text)  # a malformed --edit fails before anything loads
    face_choice = _target_face_choice(target_face)
    for value, what in ((source_face, "--source-face"),):
        if value is not None and value < 0:
            raise InputError(f"{what} must be 0 or more, got {value}", hint="faces are numbered from 0, left to right")

    def outputs_of(pair: tuple[Side, Side]) -> Outputs:
        return Outputs(output_for(out, batch, pair[0], pair[1], suffix), grid, save_aligned, save_codes)

    todo = [pair for pair in pair_list if overwrite or not outputs_of(pair).done()]
    if not batch and not overwrite:
        for path in outputs_of(pair_list[0]).all():
            if path.exists():
                raise InputError(f"{path} already exists", hint="pass --overwrite to replace it, or choose another --out")
    console = stdout_console()
    if not todo:
        console.print(f"nothing to do: every swap is in {out} already (--overwrite makes them again)")
        return
    loaded = _load_components(
        mixer, generator, weights, preset, init_seed, trunc, trunc_cutoff, device, inverter, inverter_weights,
        inverter_preset, sets, analyzer, analyzer_weights, embedder, embedder_weights,
        needs_photos=any(side.photo is not None for pair in todo for side in pair),
    )
    settings = {
        "layers": layers, "strength": strength, "mask_blur": mask_blur, "mask_grow": mask_grow, "color": color,
        "seed": seed, "source_face": source_face, "target_face": target_face, "pairs": pairs,
        "edits": edit_options[0], "editor": edit_options[1] if edit_options[0] else None, "precision": precision,
        "directions": edit_options[2] if edit_options[0] else None,
        "truncation_psi": loaded.space.truncation_psi, "truncation_cutoff": loaded.space.truncation_cutoff,
    }
    from .edit import edit_function

    job = SwapJob(
        edit=edit_function(*edit_options, loaded.generator),
        loaded=loaded, settings=settings, groups=None if layers == "all" else groups, strength=strength,
        mask_options=mask_options, color=color, seed=seed, source_face=source_face, target_face=face_choice,
        cache=InversionCache(),
        precision=precision,
    )
    if batch:
        out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for pair in todo:
        try:
            results = run_pair(job, pair[0], pair[1], outputs_of(pair))
        except LswapError as error:
            if not batch or debug_mode() or isinstance(error, Interrupted):
                raise
            report_failure(Failure(failure_line(error, *pair)))
            failed += 1
            continue
        console.print(f"wrote {outputs_of(pair).image}: " + "; ".join(describe(result) for result in results))
        for index, result in enumerate(results):
            face = f" face {index}" if len(results) > 1 else ""
            for warning in result.report["warnings"]:
                report_warning(f"{pair[1].label}{face} <- {pair[0].label}: {warning}")
    skipped = len(pair_list) - len(todo)
    if batch:
        console.print(f"{len(todo) - failed} swapped, {skipped} already there, {failed} failed")
    if failed:
        raise typer.Exit(1)


def _check_out(out: Path, batch: bool, targets: list[Side]) -> str:
    """The suffix of the images to write, after checking ``--out``."""
    from ..imaging import IMAGE_SUFFIXES

    if batch:
        if out.suffix.lower() in IMAGE_SUFFIXES:
            raise InputError(f"with several pairs --out names a folder, not the file {out}")
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out} is a file; with several pairs it names a folder", hint="choose another --out")
        return ".png"
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot tell the image format of {out}", hint=f"end it in one of {', '.join(IMAGE_SUFFIXES)}")
    if out.is_dir():
        raise InputError(f"{out} is a folder", hint="give the path of the image to write")
    if not out.parent.exists():
        raise InputError(f"folder {out.parent} does not exist", hint="create it or choose another --out")
    return out.suffix


def _target_face_choice(text: str | None) -> int | str | None:
    if text is None or text == "all":
        return text
    try:
        index = int(text)
    except ValueError:
        raise InputError(f"--target-face takes a face number or all, got {text!r}") from None
    if index < 0:
        raise InputError(f"--target-face must be 0 or more, got {index}", hint="faces are numbered from 0, left to right")
    return index


def _load_components(
    mixer_path: Path, generator: str | None, weights: Path | None, preset: str | None, init_seed: int | None,
    trunc: float | None, trunc_cutoff: int | None, device: str, inverter: str, inverter_weights: str | None,
    inverter_preset: str | None, sets: list[str], analyzer: str, analyzer_weights: str, embedder: str,
    embedder_weights: str, *, needs_photos: bool,
) -> SwapJob:
    import dataclasses as dc

    from ..checkpoints import tensors_sha256
    from ..files import sha256_of
    from ..generator_records import GeneratorRecord
    from ..registry import load_embedder, load_face_analyzer, load_inverter
    from .common import load_swapper
    from .invert import _inverter_options

    options = _inverter_options(sets)
    gen, mix, space = load_swapper(mixer_path, generator, weights, preset, init_seed, trunc, trunc_cutoff, device)
    record = mix.trained_with.generator if mix.trained_with is not None and weights is None and preset is None else None
    record = record or GeneratorRecord.of(gen, weights=weights, preset=preset, init_seed=init_seed)
    method = load_analyzer = load_emb = None
    if needs_photos:
        method = load_inverter(inverter, weights=inverter_weights, preset=inverter_preset, device=gen.device, **options)
        load_analyzer = load_face_analyzer(analyzer, weights=analyzer_weights, device=gen.device)
        load_emb = load_embedder(embedder, weights=embedder_weights, device=gen.device)
    components = {
        "generator": dc.asdict(record),
        "mixer": {"path": str(mixer_path), "sha256": sha256_of(mixer_path), "space": mix.config.space},
        "inverter": None,
        "analyzer": None,
        "embedder": None,
    }
    if method is not None and load_analyzer is not None and load_emb is not None:
        components["inverter"] = {"name": method.name, "weights": inverter_weights, "preset": inverter_preset,
                                  "config": method.config_dict(), "tensors_sha256": tensors_sha256(method.state_dict())}
        components["analyzer"] = {"name": analyzer, "weights": analyzer_weights, "tensors_sha256": tensors_sha256(load_analyzer.state_dict())}
        components["embedder"] = {"name": embedder, "weights": embedder_weights, "tensors_sha256": tensors_sha256(load_emb.state_dict())}
    return Loaded(gen, record, mix, space, method, load_analyzer, load_emb, components)

