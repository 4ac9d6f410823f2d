"""``lswap faces``: find faces in photos and FFHQ-align them.

Both commands take several photos. A photo that cannot be read, or shows no
face where one is needed, is reported on one line of stderr naming it, and
the other photos go on; the exit status is 1 when any photo failed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError, LswapError
from .options import DeviceOption, JsonOption, OverwriteOption
from .failures import Failure
from .output import debug_mode, report_failure, report_warning, stdout_console

if TYPE_CHECKING:
    from torch import Tensor

    from ..faces import AlignedFace
    from ..interfaces import DetectedFace, FaceAnalyzer

app = typer.Typer(help="Find faces in photos and FFHQ-align them.", no_args_is_help=True)

PhotosArgument = Annotated[list[Path], typer.Argument(metavar="PHOTO", help="One or more photos.", show_default=False)]
AnalyzerOption = Annotated[str, typer.Option("--analyzer", "-a", help="Registered face analyzer.")]
AnalyzerWeightsOption = Annotated[
    str,
    typer.Option(
        "--weights",
        "-w",
        help="Face analyzer export, or a fetched asset's name (`lswap weights fetch faceapi`).",
    ),
]
FaceIndexOption = Annotated[
    int | None,
    typer.Option("--face-index", "-i", help="Which face, counting from 0 left to right; required when several.", show_default=False),
]
MinScoreOption = Annotated[
    float | None,
    typer.Option(
        "--min-score",
        help="Keep faces the detector scores at least this high, between 0 and 1; lower it (e.g. 0.3) for "
        "partly covered faces. Default: the analyzer's own threshold (faceapi: 0.5).",
        show_default=False,
    ),
]


def _check_min_score(min_score: float | None) -> None:
    if min_score is not None and not 0 < min_score < 1:
        raise InputError(
            f"--min-score must lie between 0 and 1, got {min_score}",
            hint="faceapi's own threshold is 0.5; lower finds partly covered faces, higher only clear ones",
        )


def _load_analyzer(name: str, weights: str, device: str, min_score: float | None) -> FaceAnalyzer:
    from ..devices import resolve_device
    from ..registry import load_face_analyzer

    options = {} if min_score is None else {"min_score": min_score}  # otherwise the analyzer's own threshold
    return load_face_analyzer(name, weights=weights, device=resolve_device(device), **options)


def _read_photo(path: Path) -> Tensor:
    from ..imaging import load_image

    if not path.exists():
        raise InputError(f"photo {path} does not exist", hint="check the path")
    return load_image(path)


def _find_faces(model: FaceAnalyzer, path: Path) -> list[DetectedFace]:
    """The faces in one photo, numbered left to right."""
    from ..faces import order_faces

    return order_faces(model.detect(_read_photo(path)))


def _report(message: str, *, error: bool = True) -> None:
    """One line on stderr: ``error:`` for a photo that failed, ``warning:`` for one that did not stop the command."""
    report_failure(Failure(message)) if error else report_warning(message)


def _photo_error(error: LswapError, path: Path) -> str:
    """The error's line, naming the photo when the error itself does not."""
    message = str(error)
    return message if str(path) in message else f"{path}: {message}"


def _face_record(index: int, face: DetectedFace) -> dict[str, Any]:
    return {
        "index": index,
        "box": [round(v, 2) for v in face.box],
        "score": round(face.score, 4),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks.tolist()],
    }


def _detection_entry(model: FaceAnalyzer, path: Path) -> dict[str, Any]:
    """One photo's entry of the report: its faces, or ``error`` when it could not be searched."""
    try:
        faces = _find_faces(model, path)
    except LswapError as error:
        if debug_mode():
            raise
        return {"image": str(path), "faces": [], "error": _photo_error(error, path)}
    return {"image": str(path), "faces": [_face_record(i, face) for i, face in enumerate(faces)], "error": None}


@app.command("detect")
def detect_command(
    images: PhotosArgument,
    weights: AnalyzerWeightsOption = "faceapi",
    min_score: MinScoreOption = None,
    analyzer: AnalyzerOption = "faceapi",
    device: DeviceOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """List the faces in each photo, numbered left to right as --face-index counts them.

    Exit status 1 when a photo cannot be read or no photo shows a face; a photo
    without a face among photos with faces is a warning.
    """
    _check_min_score(min_score)
    model = _load_analyzer(analyzer, weights, device, min_score)
    report = [_detection_entry(model, path) for path in images]
    if as_json:
        typer.echo(json.dumps(report))  # one document, on one line
    else:
        _print_tables(report)
    if _report_detection_problems(report):
        raise typer.Exit(1)


def _print_tables(report: list[dict[str, Any]]) -> None:
    from rich.table import Table

    console = stdout_console()
    for entry in report:
        if entry["faces"]:  # photos without faces are reported on stderr instead of as an empty table
            title = f"{entry['image']}: {len(entry['faces'])} face(s)"
            table = Table("face", "left", "top", "right", "bottom", "score", title=title)
            for face in entry["faces"]:
                table.add_row(str(face["index"]), *(f"{v:.0f}" for v in face["box"]), f"{face['score']:.3f}")
            console.print(table)


def _report_detection_problems(report: list[dict[str, Any]]) -> bool:
    """One stderr line per photo that failed or shows no face; whether the command failed."""
    from ..faces import no_face_error

    found_any = any(entry["faces"] for entry in report)
    failed = False
    for entry in report:
        if entry["error"] is not None:
            _report(entry["error"])
            failed = True
        elif not entry["faces"]:
            # detection asked for faces: it fails only when none of its photos shows one
            _report(str(no_face_error(entry["image"])), error=not found_any)
            failed = failed or not found_any
    return failed


@app.command("align")
def align_command(
    images: PhotosArgument,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Aligned image file (.png...) for one photo; a folder for several photos or --all-faces.",
            show_default=False,
        ),
    ],
    weights: AnalyzerWeightsOption = "faceapi",
    size: Annotated[int, typer.Option("--size", help="Side of the aligned image in pixels.")] = 1024,
    face_index: FaceIndexOption = None,
    all_faces: Annotated[bool, typer.Option("--all-faces", help="Align every face, into the --out folder.")] = False,
    min_score: MinScoreOption = None,
    overwrite: OverwriteOption = False,
    analyzer: AnalyzerOption = "faceapi",
    device: DeviceOption = "auto",
) -> None:
    """FFHQ-align a face of each photo; the transform back to the photo is written beside it as JSON.

    Into a folder, faces are named PHOTO_face<N>.png, and faces already there
    are skipped (--overwrite aligns them again). A photo that cannot be read,
    shows no face, or several without --face-index is reported and skipped,
    with nothing written for it; the exit status is then 1.
    """
    plan = _AlignPlan(out, into_folder=all_faces or len(images) > 1, overwrite=overwrite)
    _check_align_options(images, plan, size, face_index, all_faces)
    _check_min_score(min_score)
    model = _load_analyzer(analyzer, weights, device, min_score)
    if plan.into_folder:
        out.mkdir(parents=True, exist_ok=True)
    console, failed, skipped = stdout_console(), False, 0
    for path in images:
        if not all_faces and plan.done(path, face_index or 0):  # the one face it would write is there
            skipped += 1
            continue
        try:
            aligned, already = _align_photo(model, path, size, face_index, all_faces, plan)
            for index, result in aligned:
                target = plan.target(path, index)
                _write_aligned(target, result, source=path, face_index=index)
                console.print(f"wrote {target} (face {index} of {path}) and {target.with_suffix('.json').name}")
            skipped += already
        except LswapError as error:
            if debug_mode():
                raise
            _report(_photo_error(error, path))
            failed = True
    if skipped:
        console.print(f"skipped {skipped} face(s) already in {out} (--overwrite aligns them again)")
    if failed:
        raise typer.Exit(1)


class _AlignPlan:
    """Where `align` writes each face, and which faces are already there."""

    def __init__(self, out: Path, *, into_folder: bool, overwrite: bool) -> None:
        self.out, self.into_folder, self.overwrite = out, into_folder, overwrite

    def target(self, photo: Path, index: int) -> Path:
        return self.out / f"{photo.stem}_face{index}.png" if self.into_folder else self.out

    def done(self, photo: Path, index: int) -> bool:
        """Whether face ``index`` of ``photo`` is in the folder already (its image and its record),
        so that a run that stopped finishes the rest when run again."""
        target = self.target(photo, index)
        return self.into_folder and not self.overwrite and target.exists() and target.with_suffix(".json").exists()


def _check_align_options(
    images: list[Path], plan: _AlignPlan, size: int, face_index: int | None, all_faces: bool
) -> None:
    """Refuse options that cannot work before any photo is read."""
    from ..imaging import IMAGE_SUFFIXES
    from .common import check_output_file

    out = plan.out
    if all_faces and face_index is not None:
        raise InputError("--all-faces and --face-index exclude each other", hint="drop one of them")
    if size < 8:
        raise InputError(f"aligned size {size} is too small", hint="use 256, 512 or 1024")
    if not plan.into_folder:
        if out.suffix.lower() not in IMAGE_SUFFIXES:
            hint = f"end it in one of {', '.join(IMAGE_SUFFIXES)}"
            raise InputError(f"cannot tell the image format of {out}", hint=hint)
        check_output_file(out, overwrite=plan.overwrite, suffix=out.suffix.lower())
        check_output_file(out.with_suffix(".json"), overwrite=plan.overwrite, suffix=".json")
        return
    why = "--all-faces" if all_faces else f"{len(images)} photos"
    if out.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"with {why}, --out names a folder, not the file {out}")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; with {why} it names a folder", hint="choose another --out")
    stem, count = Counter(path.stem for path in images).most_common(1)[0]
    if count > 1:
        raise InputError(
            f"{count} photos are named {stem}: their faces would overwrite each other as {stem}_face<N>.png",
            hint="align them into separate --out folders",
        )


def _align_photo(
    model: FaceAnalyzer, path: Path, size: int, face_index: int | None, all_faces: bool, plan: _AlignPlan
) -> tuple[list[tuple[int, AlignedFace]], int]:
    """The chosen faces of one photo that are not written yet, aligned, with their numbers, and how
    many were written already. Every face is aligned before anything is written, so a photo that
    fails leaves no files."""
    from ..faces import align_face, no_face_error, order_faces, select_face

    photo = _read_photo(path)
    faces = order_faces(model.detect(photo))
    if all_faces:
        if not faces:
            raise no_face_error(str(path))
        chosen = [(index, face) for index, face in enumerate(faces) if not plan.done(path, index)]
        already = len(faces) - len(chosen)
    else:
        face = select_face(faces, face_index, source=str(path))
        chosen, already = [(faces.index(face), face)], 0
    return [(index, align_face(photo, face.landmarks.to(photo.device), size)) for index, face in chosen], already


def _write_aligned(path: Path, aligned: AlignedFace, *, source: Path, face_index: int) -> None:
    """Write the aligned image and its JSON record under temporary names, renamed into place only
    once both are complete: a failure while writing (a full disk, Ctrl-C) leaves neither."""
    from PIL import Image

    from ..files import atomic_path
    from ..imaging import to_uint8

    record = {"source": str(source), "face_index": face_index, **aligned.transform.to_dict(),
              "landmarks": aligned.landmarks.tolist()}
    file_format = Image.registered_extensions()[path.suffix.lower()]
    with atomic_path(path) as image_temp, atomic_path(path.with_suffix(".json")) as record_temp:
        Image.fromarray(to_uint8(aligned.image[None])[0].numpy()).save(image_temp, format=file_format)
        record_temp.write_text(json.dumps(record, indent=1), encoding="utf-8")
