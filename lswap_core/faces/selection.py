"""Choosing the face to work on: numbered left to right, with clear errors."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError, NoFaceError, SeveralFacesError
from ..interfaces import DetectedFace


def order_faces(faces: Sequence[DetectedFace]) -> list[DetectedFace]:
    """Faces in reading order: left to right by box centre (then top to bottom).

    This is the numbering ``--face-index`` and ``lswap faces detect`` use,
    stable when detection scores change slightly.
    """
    return sorted(faces, key=lambda face: ((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2))


def no_face_error(source: str = "the image") -> NoFaceError:
    """The error for an image that shows no face, naming it (``source``) and what to try."""
    return NoFaceError(
        f"no face found in {source}",
        hint="use a photo with a clearly visible face, roughly frontal and at least 40 pixels wide, "
        "or lower --min-score (e.g. 0.3) for a partly covered face",
    )


def select_face(faces: Sequence[DetectedFace], face_index: int | None = None, *, source: str = "the image") -> DetectedFace:
    """The one face to use.

    :param faces: what a face analyzer found.
    :param face_index: which face, counting from 0 left to right; ``None``
        when exactly one face is expected.
    :param source: how to name the image in errors (its path).
    :raises NoFaceError: no face was found.
    :raises SeveralFacesError: several faces and no ``face_index``.
    :raises InputError: ``face_index`` is out of range.
    """
    ordered = order_faces(faces)
    if not ordered:
        raise no_face_error(source)
    if face_index is None:
        if len(ordered) > 1:
            raise SeveralFacesError(
                f"{source} shows {len(ordered)} faces",
                hint=f"choose one with --face-index 0..{len(ordered) - 1} (numbered left to right; "
                "`lswap faces detect` lists them)",
            )
        return ordered[0]
    if not 0 <= face_index < len(ordered):
        raise InputError(
            f"--face-index {face_index} is out of range: {source} shows {len(ordered)} face(s)",
            hint=f"use 0..{len(ordered) - 1} (numbered left to right)",
        )
    return ordered[face_index]


def pick_face(
    faces: Sequence[DetectedFace], face_index: int | None = None, *, source: str = "the image", option: str = "--face"
) -> tuple[int, DetectedFace]:
    """The face to use and its number: ``face_index`` counting left to right, else the largest.

    :raises NoFaceError: no face was found.
    :raises InputError: ``face_index`` is out of range (``option`` names it).
    """
    ordered = order_faces(faces)
    if not ordered:
        raise no_face_error(source)
    if face_index is None:
        areas = [(face.box[2] - face.box[0]) * (face.box[3] - face.box[1]) for face in ordered]
        index = max(range(len(ordered)), key=areas.__getitem__)
        return index, ordered[index]
    if not 0 <= face_index < len(ordered):
        raise InputError(
            f"{option} {face_index} is out of range: {source} shows {len(ordered)} face(s)",
            hint=f"use 0..{len(ordered) - 1} (numbered left to right; `lswap faces detect` lists them)",
        )
    return face_index, ordered[face_index]
