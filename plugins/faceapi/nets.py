"""The catalogue of face-api's seven nets: names, files, classes, and how to tell them apart.

A net is identified from the tensor names (and a few shapes) in its weight
manifest, never from its file name, so renamed files still convert.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from torch import nn


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """One face-api net.

    :param name: lswap's name for it, face-api's model file stem without ``_model``.
    :param description: what it does, one line.
    :param manifest: the manifest's file name in face-api's ``model/`` folder.
    :param build: makes a freshly initialised PyTorch port.
    :param role: ``embedder`` (the recognition net) or ``analyzer`` (the others).
    """

    name: str
    description: str
    manifest: str
    build: Callable[[], nn.Module]
    role: str


def _recognition() -> nn.Module:
    from .recognition import FaceRecognitionNet

    return FaceRecognitionNet()


def _tiny_detector() -> nn.Module:
    from .detectors import TinyFaceDetector

    return TinyFaceDetector()


def _ssd() -> nn.Module:
    from .detectors import SsdMobilenetV1

    return SsdMobilenetV1()


def _landmarks() -> nn.Module:
    from .face_nets import FaceLandmark68Net

    return FaceLandmark68Net(tiny=False)


def _landmarks_tiny() -> nn.Module:
    from .face_nets import FaceLandmark68Net

    return FaceLandmark68Net(tiny=True)


def _expressions() -> nn.Module:
    from .face_nets import FaceExpressionNet

    return FaceExpressionNet()


def _age_gender() -> nn.Module:
    from .face_nets import AgeGenderNet

    return AgeGenderNet()


NETS: dict[str, NetSpec] = {
    spec.name: spec
    for spec in (
        NetSpec("face_recognition", "128-d face descriptor (dlib ResNet metric net), 150² input",
                "face_recognition_model-weights_manifest.json", _recognition, "embedder"),
        NetSpec("tiny_face_detector", "tiny face detector (tiny YOLOv2, separable convolutions)",
                "tiny_face_detector_model-weights_manifest.json", _tiny_detector, "analyzer"),
        NetSpec("ssd_mobilenetv1", "SSD MobileNet v1 face detector",
                "ssd_mobilenetv1_model-weights_manifest.json", _ssd, "analyzer"),
        NetSpec("face_landmark_68", "68 face landmarks, 112² input",
                "face_landmark_68_model-weights_manifest.json", _landmarks, "analyzer"),
        NetSpec("face_landmark_68_tiny", "68 face landmarks, tiny net, 112² input",
                "face_landmark_68_tiny_model-weights_manifest.json", _landmarks_tiny, "analyzer"),
        NetSpec("face_expression", "7 facial expressions, 112² input",
                "face_expression_model-weights_manifest.json", _expressions, "analyzer"),
        NetSpec("age_gender", "age and gender (tiny Xception), 112² input",
                "age_gender_model-weights_manifest.json", _age_gender, "analyzer"),
    )
}
DETECTORS = ("ssd_mobilenetv1", "tiny_face_detector")  # preference order: face-api's default first
LANDMARK_NETS = ("face_landmark_68", "face_landmark_68_tiny")
ANALYZER_NETS = tuple(name for name, spec in NETS.items() if spec.role == "analyzer")


def identify(shapes: Mapping[str, Sequence[int]]) -> str | None:
    """The net whose weights these are, from tensor names and shapes; ``None`` if none fits."""
    names = set(shapes)
    if "MobilenetV1/Conv2d_0_pointwise/weights" in names:
        return "ssd_mobilenetv1"
    if "fc/age/weights" in names and "fc/gender/weights" in names:
        return "age_gender"
    if "conv32_down/conv/filters" in names and "fc" in names:
        return "face_recognition"
    if "conv8/filters" in names and "conv0/filters" in names:
        return "tiny_face_detector"
    fc = tuple(shapes.get("fc/weights", ()))
    if "dense0/conv0/filters" in names and len(fc) == 2:
        if fc[1] == 136:
            return "face_landmark_68" if "dense3/conv0/depthwise_filter" in names else "face_landmark_68_tiny"
        if fc[1] == 7:
            return "face_expression"
    return None
