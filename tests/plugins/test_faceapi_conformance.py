"""The faceapi components pass lswap's conformance kits with random weights."""

from __future__ import annotations

import pytest
import torch

import lswap_core
from lswap_core.errors import ConfigError, InputError
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
