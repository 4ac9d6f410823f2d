"""The faceapi components pass lswap's conformance kits with random weights."""

from __future__ import annotations

import pytest
import torch

import lswap_core
from lswap_core.errors import ConfigError, InputError
from lswap_core.interfaces import DetectedFace
from lswap_core.testing import EmbedderConformance, FaceAnalyzerConformance, random_images


class TestFaceApiEmbedder(EmbedderConformance):
    component_name = "faceapi"


class TestFaceApiEmbedderOnChips(EmbedderConformance):
    component_name = "faceapi"
    preset = "dlib-chip"
    image_sizes = (150, 75)


class TestFastFaceApiAnalyzer(FaceAnalyzerConformance):
    component_name = "faceapi"
    config = {"nets": ("tiny_face_detector", "face_landmark_68_tiny"), "detector": "tiny_face_detector",
              "landmarks": "face_landmark_68_tiny", "input_size": 128, "min_score": 0.9}


class TestFaceApiAnalyzer(FaceAnalyzerConformance):
    component_name = "faceapi"
    config = {"min_score": 0.6}  # random SSD scores stay near 0.5: this keeps a few dozen detections

    def test_attribute_nets_on_aligned_faces(self):
        analyzer = self.build()
        with torch.no_grad():
            crops = analyzer.aligned_attribute_crops(random_images(2, 256))
            probabilities = analyzer.expressions(crops)
            age_gender = analyzer.age_gender(crops)
        assert crops.shape == (2, 3, 112, 112)
        torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2))
        assert age_gender.age.shape == age_gender.male_probability.shape == (2,)
        assert ((age_gender.male_probability >= 0) & (age_gender.male_probability <= 1)).all()


def test_embedder_matches_its_descriptors():
    torch.manual_seed(0)
    embedder = lswap_core.load_embedder("faceapi", preset="dlib-chip")
    chips = random_images(2, 150)
    with torch.no_grad():
        torch.testing.assert_close(embedder.embed(chips), torch.nn.functional.normalize(embedder.descriptors(chips), dim=1))


@pytest.mark.parametrize(
    "config",
    [
        {"nets": ("face_expression",), "detector": "ssd_mobilenetv1"},
        {"nets": ("tiny_face_detector", "tiny_face_detector")},
        {"nets": ("no_such_net",)},
        {"input_size": 100},
        {"min_score": 1.5},
        {"close_up_padding": -0.1},
    ],
)
def test_inconsistent_analyzer_configs_are_refused(config):
    with pytest.raises(ConfigError):
        lswap_core.load_face_analyzer("faceapi", **config)


def test_missing_nets_are_named():
    analyzer = lswap_core.load_face_analyzer("faceapi", nets=("face_expression",), detector=None, landmarks=None)
    with pytest.raises(InputError, match="holds no age_gender net"):
        analyzer.age_gender(torch.zeros(1, 3, 112, 112))
    with pytest.raises(InputError, match="no face detector"):
        analyzer.detect(torch.zeros(3, 32, 32))
    with pytest.raises(InputError, match=r"one RGB image \(3, H, W\)"):
        analyzer.detect_boxes(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("padding", [0.5, 0.0])
def test_a_photo_without_faces_is_searched_again_inside_a_border(monkeypatch, padding):
    analyzer = lswap_core.load_face_analyzer("faceapi", preset="fast", close_up_padding=padding)
    searched = []

    def detect_as_given(image):
        searched.append(image)
        if len(searched) == 1:
            return []
        # in the 60x80 photo inside a 40-pixel border: a face reaching past the photo's left edge, and one in the border alone
        return [DetectedFace(box=(25.0, 50.0, 105.0, 130.0), score=0.9, landmarks=torch.full((68, 2), 50.0)),
                DetectedFace(box=(0.0, 0.0, 30.0, 30.0), score=0.8, landmarks=torch.zeros(68, 2))]

    monkeypatch.setattr(analyzer, "_detect_as_given", detect_as_given)
    photo = torch.full((3, 60, 80), -0.5)
    faces = analyzer.detect(photo)
    if padding == 0:
        assert faces == [] and len(searched) == 1
        return
    bordered = searched[1]
    assert bordered.shape == (3, 140, 160) and torch.equal(bordered[:, 40:100, 40:120], photo)
    assert (bordered[:, :40] == 0).all()  # mid-grey
    (face,) = faces
    assert face.box == (-15.0, 10.0, 65.0, 90.0) and face.score == 0.9
    assert torch.equal(face.landmarks, torch.full((68, 2), 10.0))


def test_a_large_photo_is_shrunk_before_its_border(monkeypatch):
    from lswap_plugins.faceapi import analyzer as analyzer_module

    monkeypatch.setattr(analyzer_module, "CLOSE_UP_MAX_SIDE", 40)  # the 60x80 photo is searched at 30x40
    analyzer = lswap_core.load_face_analyzer("faceapi", preset="fast")
    searched = []

    def detect_as_given(image):
        searched.append(image.shape)
        if len(searched) == 1:
            return []
        return [DetectedFace(box=(10.0, 20.0, 50.0, 60.0), score=0.9, landmarks=torch.tensor([[20.0, 20.0], [30.0, 40.0]]))]

    monkeypatch.setattr(analyzer, "_detect_as_given", detect_as_given)
    (face,) = analyzer.detect(torch.zeros(3, 60, 80))
    assert searched == [(3, 60, 80), (3, 70, 80)]  # 30x40 inside a 20-pixel border
    assert face.box == (-20.0, 0.0, 60.0, 80.0)  # box edges scale with the photo
    torch.testing.assert_close(face.landmarks, torch.tensor([[0.5, 0.5], [20.5, 40.5]]))  # pixel centres too
