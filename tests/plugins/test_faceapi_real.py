"""The faceapi plugin with face-api's real weights on real photos (skipped without the shared assets)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lswap_core
from lswap_core.convert import convert
from lswap_core.errors import InputError, NoFaceError, SeveralFacesError
from lswap_core.faces import align_face, order_faces, select_face
from lswap_core.imaging import load_image, to_uint8
from lswap_plugins.faceapi.face_nets import EXPRESSION_LABELS
from lswap_plugins.faceapi.nets import NETS
from tests.conftest import SHARED_ASSETS, needs_assets

FACE_API = SHARED_ASSETS / "face-api"
IMAGES = SHARED_ASSETS / "images"
pytestmark = needs_assets("face-api", "images")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("faceapi")
    return {
        "analyzer": convert(FACE_API, folder / "analyzer.safetensors"),
        "embedder": convert(FACE_API / NETS["face_recognition"].manifest, folder / "embedder.safetensors"),
    }


@pytest.fixture(scope="module")
def analyzer(exports):
    return lswap_core.load_face_analyzer("faceapi", weights=exports["analyzer"])


@pytest.fixture(scope="module")
def embedder(exports):
    return lswap_core.load_embedder("faceapi", weights=exports["embedder"])


@pytest.fixture(scope="module")
def group(analyzer):
    """The group photo, its faces left to right and their 256² FFHQ-aligned crops."""
    image = load_image(IMAGES / "group-6-faces.jpg")
    with torch.no_grad():
        faces = order_faces(analyzer.detect(image))
    aligned = torch.stack([align_face(image, face.landmarks, 256).image for face in faces])
    return image, faces, aligned


def augment(face: torch.Tensor) -> torch.Tensor:
    """Mirror, shift by a few percent, zoom by 5 % and JPEG-compress one aligned face."""
    pil = Image.fromarray(to_uint8(face[None])[0].numpy()).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = pil.size[0]
    pil = pil.transform((side, side), Image.Transform.AFFINE, (1 / 1.05, 0, 0.03 * side, 0, 1 / 1.05, -0.02 * side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=70)
    pixels = np.asarray(Image.open(buffer).convert("RGB")).copy()
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 127.5 - 1


def test_every_face_api_net_converts(tmp_path):
    for name, spec in NETS.items():
        export = lswap_core.checkpoints.read_export(convert(FACE_API / spec.manifest, tmp_path / f"{name}.safetensors"))
        if name == "face_recognition":
            assert (export.kind, export.config) == ("embedder", {})
        else:
            assert export.kind == "face_analyzer" and export.config["nets"] == [name]


def test_the_six_people_are_found_and_told_apart(group, embedder):
    _, faces, aligned = group
    assert len(faces) == 6
    with torch.no_grad():
        embeddings = embedder.embed(aligned)
    similarity = embeddings @ embeddings.T
    off_diagonal = similarity[~torch.eye(6, dtype=torch.bool)]
    assert off_diagonal.max() < 0.95, f"two different people look alike: {similarity}"


def test_an_augmented_face_stays_closest_to_its_original(group, embedder):
    _, _, aligned = group
    with torch.no_grad():
        originals = embedder.embed(aligned)
        copies = embedder.embed(torch.stack([augment(face) for face in aligned]))
    similarity = copies @ originals.T  # (copy, original)
    assert torch.equal(similarity.argmax(dim=1), torch.arange(6)), f"an augmented copy matched someone else: {similarity}"
    assert similarity.diagonal().min() > 0.9


@pytest.mark.parametrize("detector", ["ssd_mobilenetv1", "tiny_face_detector"])
def test_landmarks_fall_inside_their_boxes(exports, detector):
    analyzer = lswap_core.load_face_analyzer("faceapi", weights=exports["analyzer"], detector=detector)
    for name in ("astronaut.png", "group-6-faces.jpg"):
        with torch.no_grad():
            faces = analyzer.detect(load_image(IMAGES / name))
        assert faces, f"{detector} found no face in {name}"
        for face in faces:
            left, top, right, bottom = face.box
            margin_x, margin_y = 0.15 * (right - left), 0.15 * (bottom - top)  # the chin may pass a tight box
            x, y = face.landmarks[:, 0], face.landmarks[:, 1]
            assert ((x > left - margin_x) & (x < right + margin_x) & (y > top - margin_y) & (y < bottom + margin_y)).all()
            centre = face.landmarks.mean(dim=0)
            assert left + 0.25 * (right - left) < centre[0] < right - 0.25 * (right - left)
            assert top + 0.25 * (bottom - top) < centre[1] < bottom - 0.25 * (bottom - top)


def test_photos_without_faces_and_with_several(exports, analyzer, group):
    # the "mask" photo shows a surgical mask on its own, no person: nothing is found even at a low threshold
    mask_photo = load_image(IMAGES / "face-with-mask.jpg")
    low = lswap_core.load_face_analyzer("faceapi", weights=exports["analyzer"], min_score=0.3)
    with torch.no_grad():
        assert analyzer.detect(mask_photo) == [] and low.detect(mask_photo) == []
    with pytest.raises(NoFaceError, match="no face found in face-with-mask.jpg; .*lower --min-score"):
        select_face([], source="face-with-mask.jpg")
    _, faces, _ = group
    with pytest.raises(SeveralFacesError, match="--face-index 0..5"):
        select_face(faces, source="group-6-faces.jpg")
    assert select_face(faces, 5) is faces[5]
    with pytest.raises(InputError, match="out of range"):
        select_face(faces, 6)


@pytest.mark.parametrize("detector", ["ssd_mobilenetv1", "tiny_face_detector"])
def test_a_face_filling_the_frame_is_found(exports, detector):
    """The 112² crop: found through the close-up search alone, with its landmarks on the face."""
    options = {"detector": detector, "landmarks": "face_landmark_68" if detector == "ssd_mobilenetv1" else "face_landmark_68_tiny"}
    analyzer = lswap_core.load_face_analyzer("faceapi", weights=exports["analyzer"], **options)
    without_search = lswap_core.load_face_analyzer("faceapi", weights=exports["analyzer"], close_up_padding=0.0, **options)
    crop = load_image(IMAGES / "single-face-crop.png")
    with torch.no_grad():
        assert without_search.detect(crop) == []
        (face,) = analyzer.detect(crop)
    assert face.score > 0.85
    left, top, right, bottom = face.box  # pixels of the 112² crop; the face may reach past its edges
    assert -15 < left < 10 and 5 < top < 30 and 80 < right < 100 and 105 < bottom < 130
    eyes = (face.landmarks[36:42].mean(dim=0), face.landmarks[42:48].mean(dim=0))
    assert 25 < eyes[0][0] < 45 and 60 < eyes[1][0] < 80 and all(40 < eye[1] < 56 for eye in eyes)
    mouth = face.landmarks[48:68].mean(dim=0)
    assert 45 < mouth[0] < 65 and 85 < mouth[1] < 100


def test_a_close_up_keeps_the_photo_coordinates(analyzer):
    """A tight crop of the astronaut's face, found only by the close-up search, has the landmarks the
    whole photo gives, shifted by the crop's corner."""
    photo = load_image(IMAGES / "astronaut.png")
    left, top = 185, 80
    with torch.no_grad():
        (whole,) = analyzer.detect(photo)
        (close_up,) = analyzer.detect(photo[:, top:175, left:262])
    distances = (close_up.landmarks + torch.tensor([left, top]) - whole.landmarks).norm(dim=1)
    assert distances.mean() < 2 and distances.max() < 5


def test_a_large_close_up_is_found_at_its_own_scale(analyzer):
    """The 112² crop enlarged to 1400²: found (searched shrunk), with the small crop's landmarks scaled up."""
    crop = load_image(IMAGES / "single-face-crop.png")
    large = torch.nn.functional.interpolate(crop[None], size=(1400, 1400), mode="bicubic", align_corners=False)[0].clamp(-1, 1)
    with torch.no_grad():
        (small,) = analyzer.detect(crop)
        (face,) = analyzer.detect(large)
    scale = 1400 / 112
    distances = ((face.landmarks + 0.5) / scale - 0.5 - small.landmarks).norm(dim=1)  # in pixels of the 112² crop
    assert distances.mean() < 1.5 and distances.max() < 3
    assert all(abs(a / scale - b) < 3 for a, b in zip(face.box, small.box))


def test_photos_with_faces_are_searched_as_before(exports, analyzer, group):
    """The close-up search runs only where nothing was found: the group photo's faces are face-api's."""
    plain = lswap_core.load_face_analyzer("faceapi", weights=exports["analyzer"], close_up_padding=0.0)
    image, faces, _ = group
    with torch.no_grad():
        expected = order_faces(plain.detect(image))
    assert [(f.box, f.score) for f in faces] == [(f.box, f.score) for f in expected]
    assert [round(f.score, 3) for f in faces] == [0.969, 0.954, 0.984, 0.96, 0.961, 0.946]


def test_min_score_keeps_only_faces_scored_that_high(exports, group):
    strict = lswap_core.load_face_analyzer("faceapi", weights=exports["analyzer"], min_score=0.965)
    image, faces, _ = group
    with torch.no_grad():
        kept = order_faces(strict.detect(image))
    assert [f.box for f in kept] == [f.box for f in faces if f.score >= 0.965] and len(kept) == 2


def test_expression_age_and_gender_of_the_astronaut(analyzer):
    image = load_image(IMAGES / "astronaut.png")
    with torch.no_grad():
        faces = analyzer.detect(image)
        for crops in (analyzer.attribute_crops(image, faces), analyzer.aligned_attribute_crops(align_face(image, faces[0].landmarks, 256).image[None])):
            probabilities = analyzer.expressions(crops)[0]
            prediction = analyzer.age_gender(crops)
            assert EXPRESSION_LABELS[int(probabilities.argmax())] == "happy"  # she smiles
            assert 18 < float(prediction.age[0]) < 60 and float(prediction.male_probability[0]) < 0.5


def test_attributes_of_an_aligned_face_for_fitting_directions(analyzer):
    from lswap_core.face_attributes import score_faces

    image = load_image(IMAGES / "astronaut.png")
    aligned = align_face(image, analyzer.detect(image)[0].landmarks, 256).image[None]
    scores = analyzer.attributes(aligned)
    assert set(scores) == set(analyzer.attribute_names) == {"age", "gender", "smile", *EXPRESSION_LABELS}
    assert torch.equal(scores["smile"], scores["happy"]) and float(scores["happy"][0]) > 0.5
    assert 18 < float(scores["age"][0]) < 60 and float(scores["gender"][0]) < 0.5
    yaw = float(score_faces(analyzer, aligned, "yaw")[0])
    assert abs(yaw) < 25  # an aligned, roughly frontal face
