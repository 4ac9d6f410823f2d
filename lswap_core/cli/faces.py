"""``lswap faces``: find faces in photos and FFHQ-align them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .options import DeviceOption, JsonOption
from .output import stdout_console

app = typer.Typer(help="Find faces in photos and FFHQ-align them.", no_args_is_help=True)

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


def _load_analyzer(name: str, weights: str, device: str) -> Any:
    from ..devices import resolve_device
    from ..registry import load_face_analyzer

    return load_face_analyzer(name, weights=weights, device=resolve_device(device))


def _face_record(index: int, face: Any) -> dict[str, Any]:
    return {
        "index": index,
        "box": [round(v, 2) for v in face.box],
        "score": round(face.score, 4),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks.tolist()],
    }


@app.command("detect")
def detect_command(
    images: Annotated[list[Path], typer.Argument(help="Photos to search.", show_default=False)],
    weights: AnalyzerWeightsOption = "faceapi",
    analyzer: AnalyzerOption = "faceapi",
    device: DeviceOption = "cpu",
    as_json: JsonOption = False,
) -> None:
    """List the faces in each photo, numbered left to right as --face-index counts them."""
    from rich.table import Table

    from ..faces import order_faces
    from ..imaging import load_image

    model = _load_analyzer(analyzer, weights, device)
    report = []
    for path in images:
        faces = order_faces(model.detect(load_image(path)))
        report.append({"image": str(path), "faces": [_face_record(i, face) for i, face in enumerate(faces)]})
    console = stdout_console()
    if as_json:
        console.print_json(json.dumps(report))
        return
    for entry in report:
        table = Table("face", "left", "top", "right", "bottom", "score", title=f"{entry['image']}: {len(entry['faces'])} face(s)")
        for face in entry["faces"]:
            table.add_row(str(face["index"]), *(f"{v:.0f}" for v in face["box"]), f"{face['score']:.3f}")
        console.print(table)


@app.command("align")
def align_command(
    image: Annotated[Path, typer.Argument(help="The photo.", show_default=False)],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Aligned image file (.png...); with --all-faces, a folder.", show_default=False),
    ],
    weights: AnalyzerWeightsOption = "faceapi",
    size: Annotated[int, typer.Option("--size", help="Side of the aligned image in pixels.")] = 1024,
    face_index: FaceIndexOption = None,
    all_faces: Annotated[bool, typer.Option("--all-faces", help="Align every face, into the --out folder.")] = False,
    analyzer: AnalyzerOption = "faceapi",
    device: DeviceOption = "cpu",
) -> None:
    """FFHQ-align a face; the transform back to the photo is written beside it as JSON."""
    from ..errors import InputError, NoFaceError
    from ..faces import align_face, order_faces, select_face
    from ..imaging import IMAGE_SUFFIXES, load_image

    if all_faces and face_index is not None:
        raise InputError("--all-faces and --face-index exclude each other", hint="drop one of them")
    if all_faces and out.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"with --all-faces, --out names a folder, not the file {out}")
    if not all_faces and out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot tell the image format of {out}", hint=f"end it in one of {', '.join(IMAGE_SUFFIXES)}")
    model = _load_analyzer(analyzer, weights, device)
    photo = load_image(image)
    faces = order_faces(model.detect(photo))
    if all_faces:
        if not faces:
            raise NoFaceError(f"no face found in {image}", hint="use a photo with a clearly visible face")
        out.mkdir(parents=True, exist_ok=True)
        targets = [(i, face, out / f"{image.stem}_face{i}.png") for i, face in enumerate(faces)]
    else:
        face = select_face(faces, face_index, source=str(image))
        targets = [(faces.index(face), face, out)]
    aligned = [(i, align_face(photo, face.landmarks.to(photo.device), size), path) for i, face, path in targets]
    console = stdout_console()
    for index, result, path in aligned:
        _write_aligned(path, result, source=image, face_index=index)
        console.print(f"wrote {path} (face {index}) and {path.with_suffix('.json').name}")


def _write_aligned(path: Path, aligned: Any, *, source: Path, face_index: int) -> None:
    from ..files import atomic_write_text
    from ..imaging import save_image

    record = {"source": str(source), "face_index": face_index, **aligned.transform.to_dict(),
              "landmarks": aligned.landmarks.tolist()}
    save_image(path, aligned.image)
    atomic_write_text(path.with_suffix(".json"), json.dumps(record, indent=1))
