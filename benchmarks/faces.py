"""``lswap bench faces``: CPU time of face detection, landmarks and embeddings beside dlib's.

Per photo (scaled so its longer side is 512 px): face detection with face-api's
tiny detector (416² input) and SSD MobileNet v1 (512²) against dlib's HOG
detector (upsample 0). Per face: 68 landmarks (face-api's full and tiny nets on
the detected box against dlib's 68-point shape predictor) and the 128-d
descriptor of a 150² chip (the faceapi embedder against dlib's ResNet).
Batched: the same nets on ``--batch`` faces at once, against dlib's batch API.
dlib runs in the same process on the same photos; it comes from the optional
``bench`` extra (``pip install 'lswap[bench]'``: dlib-bin, face-recognition-models)
and its columns are left out when it is missing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_MODELS = Path("../shared/assets/face-api")
DEFAULT_IMAGES = Path("../shared/assets/images")


def register(app: typer.Typer) -> None:
    @app.command("faces")
    def faces(
        models: Annotated[Path, typer.Option("--models", help="face-api's model/ folder (TF.js weights).")] = DEFAULT_MODELS,
        images: Annotated[Path, typer.Option("--images", help="Folder of photos with faces.")] = DEFAULT_IMAGES,
        batch: Annotated[int, typer.Option("--batch", help="Faces per batch for the throughput rows.")] = 32,
        repeats: Annotated[int, typer.Option("--repeats", help="Timed runs per measurement (median).")] = 5,
        threads: Annotated[int | None, typer.Option("--threads", help="torch intra-op threads (default: all cores).")] = None,
    ) -> None:
        """Face detection, landmarks and embeddings on CPU, beside dlib's."""
        run(models, images, batch, repeats, threads)


def run(models: Path, images: Path, batch: int, repeats: int, threads: int | None) -> None:
    import torch

    from lswap_benchmarks.common import print_table, set_threads, time_ms
    from lswap_core.convert import convert
    from lswap_core.errors import InputError
    from lswap_core.conventions import resize
    from lswap_core.imaging import IMAGE_SUFFIXES, load_image, to_uint8
    from lswap_core.registry import load_embedder, load_face_analyzer
    from lswap_plugins.faceapi.face_nets import face_crops
    from lswap_plugins.faceapi.nets import NETS

    if not models.is_dir():
        raise InputError(f"face-api model folder {models} not found", hint="pass --models FACE_API_MODEL_DIR")
    paths = sorted(p for p in images.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if images.is_dir() else []
    if not paths:
        raise InputError(f"no photos in {images}", hint="pass --images FOLDER")
    used_threads = set_threads(threads)
    dlib = _dlib_models()
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as folder:
        analyzer_path = convert(models, Path(folder) / "analyzer.safetensors")
        embedder_path = convert(models / NETS["face_recognition"].manifest, Path(folder) / "embedder.safetensors")
        analyzer = load_face_analyzer("faceapi", weights=analyzer_path)
        embedder = load_embedder("faceapi", weights=embedder_path, crop=(0.0, 0.0, 1.0, 1.0))

    rows: list[list[Any]] = []
    chips: list[torch.Tensor] = []
    face_boxes: list[tuple[torch.Tensor, torch.Tensor]] = []  # (photo, box) pairs for landmark timing
    dlib_faces: list[tuple[Any, Any]] = []  # (photo as uint8 array, dlib rectangle)
    for path in paths:
        photo = load_image(path)
        scale = 512 / max(photo.shape[-2:])
        size = (round(photo.shape[-2] * scale), round(photo.shape[-1] * scale))
        photo = resize(photo[None], size)[0]
        pixels = to_uint8(photo[None])[0].numpy().copy()
        tiny_ms = time_ms(lambda: analyzer.net("tiny_face_detector").detect(photo, 416, 0.5), repeats=repeats)
        ssd_ms = time_ms(lambda: analyzer.net("ssd_mobilenetv1").detect(photo, 0.5, 100), repeats=repeats)
        boxes, _ = analyzer.detect_boxes(photo)
        landmarks, kept = analyzer.landmarks_in_boxes(photo, boxes)
        for points, index in zip(landmarks, kept.tolist()):
            face_boxes.append((photo, boxes[index]))
            chips.append(_chip(photo, points))
        row = [path.name, f"{size[1]}x{size[0]}", len(kept), tiny_ms, ssd_ms]
        if dlib:
            rects = dlib["detector"](pixels, 0)
            row += [time_ms(lambda: dlib["detector"](pixels, 0), repeats=repeats), len(rects)]
            dlib_faces += [(pixels, rect) for rect in rects]
            row.append(f"{row[5] / tiny_ms:.2f}x / {row[5] / ssd_ms:.2f}x")
        rows.append(row)
    columns = ["photo", "size", "faces", "tiny ms", "SSD ms"] + (["dlib HOG ms", "dlib faces", "dlib/tiny, dlib/SSD"] if dlib else [])
    print_table(f"Detection per photo (CPU, {used_threads} torch threads)", columns, rows)
    if not chips:
        raise InputError(f"no faces found in the photos of {images}")

    # per face, batch 1: crop preparation, landmark nets, descriptor
    photo, box = face_boxes[0]
    crop_ms = time_ms(lambda: _face_crop_batch(photo, box, 1, face_crops), repeats=repeats)
    crop_batch = _face_crop_batch(photo, box, 1, face_crops)
    full_ms = crop_ms + time_ms(lambda: analyzer.net("face_landmark_68").landmarks(crop_batch), repeats=repeats)
    tiny_lm_ms = crop_ms + time_ms(lambda: analyzer.net("face_landmark_68_tiny").landmarks(crop_batch), repeats=repeats)
    embed_ms = time_ms(lambda: embedder.embed(chips[0][None]), repeats=repeats)
    per_face = [["68 landmarks, full net (crop + net)", full_ms], ["68 landmarks, tiny net (crop + net)", tiny_lm_ms],
                ["128-d descriptor of a 150² chip", embed_ms]]
    # batched throughput
    chip_batch = torch.stack([chips[i % len(chips)] for i in range(batch)])
    crops = _face_crop_batch(photo, box, batch, face_crops)
    batched = [
        ["68 landmarks, full net", time_ms(lambda: analyzer.net("face_landmark_68").landmarks(crops), repeats=repeats) / batch],
        ["68 landmarks, tiny net", time_ms(lambda: analyzer.net("face_landmark_68_tiny").landmarks(crops), repeats=repeats) / batch],
        ["128-d descriptor", time_ms(lambda: embedder.embed(chip_batch), repeats=repeats) / batch],
    ]
    if dlib and dlib_faces:
        pixels, rect = dlib_faces[0]
        shape = dlib["shape"](pixels, rect)
        chip = dlib["module"].get_face_chip(pixels, shape, size=150, padding=0.25)
        sp_ms = time_ms(lambda: dlib["shape"](pixels, rect), repeats=repeats)
        rec_ms = time_ms(lambda: dlib["recognizer"].compute_face_descriptor(chip), repeats=repeats)
        per_face[0] += [sp_ms, sp_ms / full_ms]
        per_face[1] += [sp_ms, sp_ms / tiny_lm_ms]
        per_face[2] += [rec_ms, rec_ms / embed_ms]
        dlib_chips = [chip] * batch
        dlib_batch_ms = time_ms(lambda: dlib["recognizer"].compute_face_descriptor(dlib_chips), repeats=max(repeats // 2, 1)) / batch
        batched[0] += [sp_ms, sp_ms / batched[0][1]]
        batched[1] += [sp_ms, sp_ms / batched[1][1]]
        batched[2] += [dlib_batch_ms, dlib_batch_ms / batched[2][1]]
    per_face.append(["whole photo to descriptors (first photo with a face)", _pipeline_ms(analyzer, embedder, face_boxes[0][0], repeats)])
    if dlib and dlib_faces:
        pixels = dlib_faces[0][0]

        def dlib_pipeline() -> None:
            for rect in dlib["detector"](pixels, 0):
                dlib["recognizer"].compute_face_descriptor(pixels, dlib["shape"](pixels, rect))

        dlib_ms = time_ms(dlib_pipeline, repeats=repeats)
        per_face[-1] += [dlib_ms, dlib_ms / per_face[-1][1]]
    extra = ["dlib ms", "speed-up vs dlib"] if dlib else []
    print_table("Per face, batch 1 (ms)", ["stage", "ours ms"] + extra, per_face)
    print_table(f"Batched, {batch} faces (ms per face)", ["stage", "ours ms/face"] + extra, batched)
    if not dlib:
        typer.echo("dlib is not installed: pip install 'lswap[bench]' to time dlib beside these")
    typer.echo(f"median of {repeats} runs after a warm-up; {len(chips)} faces in {len(paths)} photos; "
               "speed-up = dlib time / our time (above 1: faster than dlib)")


def _pipeline_ms(analyzer: Any, embedder: Any, photo: Any, repeats: int) -> float:
    """Tiny detector, full landmarks, FFHQ alignment and descriptors of every face in a photo."""
    from lswap_benchmarks.common import time_ms

    def pipeline() -> None:
        boxes, _ = analyzer.net("tiny_face_detector").detect(photo, 416, 0.5)
        landmarks, _ = analyzer.landmarks_in_boxes(photo, boxes)
        if len(landmarks):
            embedder.embed(torch.stack([_chip(photo, points) for points in landmarks]))

    import torch

    return time_ms(pipeline, repeats=repeats)


def _chip(photo: Any, landmarks: Any) -> Any:
    """A 150² crop around a face (eye/mouth box, as face-api cuts faces for its descriptor)."""
    from lswap_core.faces import align_face
    from lswap_core.conventions import crop_fraction, resize
    from lswap_plugins.faceapi.embedder import FFHQ_DLIB_CHIP_CROP

    aligned = align_face(photo, landmarks, 256).image
    return resize(crop_fraction(aligned[None], FFHQ_DLIB_CHIP_CROP), (150, 150))[0]


def _face_crop_batch(photo: Any, box: Any, count: int, face_crops: Any) -> Any:
    from lswap_plugins.faceapi.analyzer import clip_box

    x, y, w, h = clip_box(tuple(box.tolist()), photo.shape[-1], photo.shape[-2])
    return face_crops([photo[:, y : y + h, x : x + w]] * count)


def _dlib_models() -> dict[str, Any] | None:
    import importlib.util
    from pathlib import Path

    try:
        import dlib
    except ImportError:
        return None
    # face_recognition_models' own import needs pkg_resources, which new setuptools lacks: find its files directly.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return {
        "module": dlib,
        "detector": dlib.get_frontal_face_detector(),
        "shape": dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat")),
        "recognizer": dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
    }
