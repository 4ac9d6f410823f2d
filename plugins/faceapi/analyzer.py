"""The ``faceapi`` face analyzer: face-api's detectors, landmark, expression and age/gender nets.

`detect` follows face-api's ``detectAllFaces(...).withFaceLandmarks()``: find
boxes, crop each box (clipped to the image, floored to whole pixels), pad the
crop to a centred square, resize it to 112² and read 68 landmarks. A photo in
which nothing is found is searched once more inside a mid-grey border
(``close_up_padding``): a face filling the frame, such as a 112² face crop,
gives the detectors no context and needs a box larger than their largest
anchors, so both miss it (SSD scores the test assets' 112² crop 0.09; inside
the border, 0.998).

The expression and age/gender nets read the crop face-api uses for them (the
landmarks' bounding box grown by 20 %, ``FaceLandmarks.align``), or a fixed
box of an FFHQ-aligned image (`aligned_attribute_crops`), which is how
generated faces are labelled.

One export may hold any subset of the nets (``nets`` in the config); the
methods that need a missing net say so.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lswap_core.errors import InputError
from lswap_core.conventions import crop_fraction, resize
from lswap_core.interfaces import DetectedFace, FaceAnalyzer

from .face_nets import EXPRESSION_LABELS, INPUT_SIZE, AgeGender, face_crops
from .nets import ANALYZER_NETS, NETS

# The crop face-api takes for expressions and age/gender (landmark box + 20 %, squared) from an
# FFHQ-aligned face, as fractions: measured on the test photos' faces re-detected after alignment
# (centre y 0.64, side 0.735 on average), centred horizontally and kept inside the image.
FFHQ_ATTRIBUTE_CROP = (0.135, 0.27, 0.865, 1.0)
# Where the detector boxes the face of an FFHQ-aligned image, as fractions (left, top, right,
# bottom): the mean of its boxes on the aligned faces of the test photos, made symmetric.
FFHQ_FACE_BOX = (0.19, 0.2, 0.81, 0.92)
ATTRIBUTE_BOX_PADDING = 0.2  # FaceLandmarks.alignMinBbox's default
# The close-up border's colour: mid-grey in [-1, 1]. The tiny detector finds close-ups on it far more
# surely than on face-api's black (0.90 against 0.56 on the test assets' 112² crop); SSD does as well on both.
CLOSE_UP_FILL = 0.0
# Longest side a photo is shrunk to before the border goes around it. The detectors see the bordered
# photo at 512² or 416² whatever its size, and a face filling 1024 pixels still gives the landmark
# net far more than its 112²; a 24-megapixel photo would otherwise take over a gigabyte bordered.
CLOSE_UP_MAX_SIDE = 1024


@dataclasses.dataclass
class FaceApiAnalyzerConfig:
    # face-api nets this analyzer holds weights for; a converted model/ folder holds all six.
    nets: tuple[str, ...] = ANALYZER_NETS
    # the detector `detect` uses (SSD: face-api's default, finds more faces; tiny: about 5x faster);
    # None when the analyzer holds none.
    detector: Literal["ssd_mobilenetv1", "tiny_face_detector"] | None = "ssd_mobilenetv1"
    # the landmark net `detect` uses; None when the analyzer holds none.
    landmarks: Literal["face_landmark_68", "face_landmark_68_tiny"] | None = "face_landmark_68"
    input_size: int = 416  # tiny detector's network input side (multiple of 32; face-api's default)
    min_score: float = 0.5  # detection threshold (face-api's default for both detectors)
    max_faces: int = 100  # SSD's maxResults
    # When a photo shows no face, search it again inside a mid-grey border this fraction of its longer
    # side wide on every side, for faces that fill the frame; 0 turns the second search off. 0.5 puts
    # such a face at half the searched width, where both detectors score it highest (0.25 is too
    # little for the tiny detector, 1 shrinks the face too far).
    close_up_padding: float = 0.5

    def __post_init__(self) -> None:
        unknown = sorted(set(self.nets) - set(ANALYZER_NETS))
        if unknown or len(set(self.nets)) != len(self.nets):
            raise ValueError(f"nets must be distinct names among {', '.join(ANALYZER_NETS)}; got {list(self.nets)}")
        for field, value in (("detector", self.detector), ("landmarks", self.landmarks)):
            if value is not None and value not in self.nets:
                raise ValueError(f"{field} {value!r} is not among the held nets {list(self.nets)}")
        if self.input_size < 32 or self.input_size % 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {self.input_size}")
        if not 0 < self.min_score < 1:
            raise ValueError(f"min_score must lie in (0, 1), got {self.min_score}")
        if not 0 <= self.close_up_padding <= 2:
            raise ValueError(f"close_up_padding must lie in [0, 2], got {self.close_up_padding}")


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """face-api's ``Box.clipAtImageBorders``: clip to the image, then floor to whole pixels.

    Returns ``(x, y, w, h)``; ``w`` or ``h`` is 0 or less for a box outside the image.
    """
    left, top, right, bottom = box
    x, y = max(left, 0.0), max(top, 0.0)
    w, h = min(right - x, width - x), min(bottom - y, height - y)
    return math.floor(x), math.floor(y), math.floor(w), math.floor(h)


def _to_photo(points: Tensor, pad: int, scale: Tensor, *, corners: bool = False) -> Tensor:
    """Points ``(..., 2)`` of the shrunk (by ``scale``, ``(2,)`` for x and y), bordered photo back to
    the photo's pixels: pixel-index coordinates (pixel ``i``'s centre at ``i``) for landmarks, edges
    for box ``corners``."""
    shift = 0.0 if corners else 0.5
    return (points - pad + shift) / scale - shift


def attribute_box(landmarks: Tensor) -> tuple[float, float, float, float]:
    """The landmarks' bounding box grown by 20 % of its size (``FaceLandmarks.alignMinBbox``)."""
    left, top = landmarks.min(dim=0).values.tolist()
    right, bottom = landmarks.max(dim=0).values.tolist()
    pad_x, pad_y = (right - left) * ATTRIBUTE_BOX_PADDING, (bottom - top) * ATTRIBUTE_BOX_PADDING
    return left - pad_x / 2, top - pad_y / 2, right + pad_x / 2, bottom + pad_y / 2


class FaceApiAnalyzer(FaceAnalyzer):
    """face-api face detection, 68 landmarks, expressions, age and gender."""

    name = "faceapi"
    description = "face-api detectors (tiny, SSD), 68 landmarks, expressions, age/gender"
    config_class = FaceApiAnalyzerConfig
    presets = {
        "fast": {"detector": "tiny_face_detector", "landmarks": "face_landmark_68_tiny"},
    }

    def __init__(self, config: FaceApiAnalyzerConfig | None = None) -> None:
        super().__init__(config)
        self.nets = nn.ModuleDict({name: NETS[name].build() for name in self.config.nets})

    def net(self, name: str) -> nn.Module:
        """The held net ``name`` (a key of `lswap_plugins.faceapi.nets.NETS`)."""
        if name not in self.nets:
            raise InputError(
                f"this faceapi analyzer holds no {name} net (it holds {', '.join(self.nets) or 'none'})",
                hint="convert face-api's whole model/ folder with `lswap convert MODEL_DIR OUT.safetensors`",
            )
        return self.nets[name]

    # -- detection and landmarks ----------------------------------------------------

    def detect_boxes(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """Boxes ``(K, 4)`` (left, top, right, bottom) in pixels and scores ``(K,)``, best first."""
        image = self._check_image(image)
        if self.config.detector is None:
            raise InputError("this faceapi analyzer holds no face detector", hint="load an export that includes one")
        detector = self.net(self.config.detector)
        if self.config.detector == "tiny_face_detector":
            boxes, scores = detector.detect(image, self.config.input_size, self.config.min_score)
        else:
            boxes, scores = detector.detect(image, self.config.min_score, self.config.max_faces)
        return boxes.cpu(), scores.cpu()

    @torch.no_grad()
    def landmarks_in_boxes(self, image: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """68 landmarks in pixels ``(K', 68, 2)`` for the boxes ``(K, 4)`` that overlap the image,
        and the indices ``(K',)`` of those boxes."""
        image = self._check_image(image)
        if self.config.landmarks is None:
            raise InputError("this faceapi analyzer holds no landmark net", hint="load an export that includes one")
        height, width = image.shape[-2:]
        crops, origins, kept = [], [], []
        for index, box in enumerate(boxes.tolist()):
            x, y, w, h = clip_box(box, width, height)
            if w > 0 and h > 0:
                crops.append(image[:, y : y + h, x : x + w])
                origins.append((x, y, w, h))
                kept.append(index)
        if not crops:
            return torch.zeros(0, 68, 2), torch.zeros(0, dtype=torch.long)
        relative = self.net(self.config.landmarks).landmarks(face_crops(crops)).float().cpu()
        points = torch.stack([self._to_crop_pixels(rel, w, h) for rel, (_, _, w, h) in zip(relative, origins)])
        offsets = torch.tensor([(x, y) for x, y, _, _ in origins], dtype=points.dtype)
        return points + offsets[:, None, :], torch.tensor(kept, dtype=torch.long)

    @staticmethod
    def _to_crop_pixels(relative: Tensor, width: int, height: int) -> Tensor:
        """Net output (fractions of the padded 112² square) to pixels of the crop
        (``FaceLandmark68NetBase.postProcess``, which removes half the padding difference)."""
        scale = INPUT_SIZE / max(width, height)
        scaled_w, scaled_h = width * scale, height * scale
        pad_x = abs(scaled_w - scaled_h) / 2 if scaled_w < scaled_h else 0.0
        pad_y = abs(scaled_w - scaled_h) / 2 if scaled_h < scaled_w else 0.0
        x = (relative[:, 0] * INPUT_SIZE - pad_x) / scaled_w * width
        y = (relative[:, 1] * INPUT_SIZE - pad_y) / scaled_h * height
        return torch.stack([x, y], dim=1)

    @torch.no_grad()
    def detect(self, image: Tensor) -> list[DetectedFace]:
        """Faces with boxes, scores and 68 landmarks in pixels, most confident first.

        When nothing is found, the photo is searched again inside a border
        (``close_up_padding``); faces found that way keep the photo's pixel
        coordinates, and their boxes and landmarks may reach past its edges
        where the face does.
        """
        faces = self._detect_as_given(image)
        if faces or self.config.close_up_padding == 0:
            return faces
        return self._detect_close_up(image)

    def _detect_as_given(self, image: Tensor) -> list[DetectedFace]:
        boxes, scores = self.detect_boxes(image)
        if boxes.shape[0] == 0:
            return []
        landmarks, kept = self.landmarks_in_boxes(image, boxes)
        faces = []
        for points, index in zip(landmarks, kept.tolist()):
            left, top, right, bottom = boxes[index].tolist()
            if right > left and bottom > top:
                faces.append(DetectedFace(box=(left, top, right, bottom), score=float(scores[index]), landmarks=points))
        return faces

    def _detect_close_up(self, image: Tensor) -> list[DetectedFace]:
        """`_detect_as_given` on the photo (shrunk to `CLOSE_UP_MAX_SIDE` at most) inside a mid-grey
        border, in the photo's coordinates."""
        image = self._check_image(image)
        height, width = image.shape[-2:]
        shrink = min(CLOSE_UP_MAX_SIDE / max(height, width), 1.0)
        if shrink < 1:
            image = resize(image[None], (max(round(height * shrink), 1), max(round(width * shrink), 1)))[0]
        scale = torch.tensor([image.shape[-1] / width, image.shape[-2] / height])  # (x, y), as rounded
        pad = max(round(max(image.shape[-2:]) * self.config.close_up_padding), 1)
        bordered = F.pad(image[None], (pad, pad, pad, pad), value=CLOSE_UP_FILL)[0]
        faces = []
        for face in self._detect_as_given(bordered):
            box = _to_photo(torch.tensor(face.box).view(2, 2), pad, scale, corners=True).flatten().tolist()
            left, top, right, bottom = box
            # a face must be centred on the photo: anything found in the border alone is not in it
            if 0 <= (left + right) / 2 < width and 0 <= (top + bottom) / 2 < height:
                landmarks = _to_photo(face.landmarks, pad, scale)
                faces.append(DetectedFace(box=(left, top, right, bottom), score=face.score, landmarks=landmarks))
        return faces

    # -- expressions, age and gender -------------------------------------------------

    def attribute_crops(self, image: Tensor, faces: list[DetectedFace]) -> Tensor:
        """The 112² crops face-api's expression and age/gender nets read, ``(K, 3, 112, 112)``."""
        image = self._check_image(image)
        height, width = image.shape[-2:]
        crops = []
        for face in faces:
            x, y, w, h = clip_box(attribute_box(face.landmarks), width, height)
            if w <= 0 or h <= 0:
                raise InputError(f"face at {face.box} lies outside the {width}x{height} image")
            crops.append(image[:, y : y + h, x : x + w])
        if not crops:
            return torch.zeros(0, 3, INPUT_SIZE, INPUT_SIZE, device=image.device)
        return face_crops(crops)

    def aligned_attribute_crops(self, images: Tensor) -> Tensor:
        """``(N, 3, 112, 112)`` attribute crops of FFHQ-aligned ``(N, 3, H, W)`` images in ``[-1, 1]``."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"expected aligned images (N, 3, H, W), got shape {tuple(images.shape)}")
        return face_crops(list(crop_fraction(images, FFHQ_ATTRIBUTE_CROP)))

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Age in years, ``gender`` (the probability of male), the seven expression probabilities and
        ``smile`` (another name for ``happy``)."""
        return ("age", "gender", *EXPRESSION_LABELS, "smile")

    @torch.no_grad()
    def aligned_landmarks(self, images: Tensor) -> Tensor:
        """Landmarks in `FFHQ_FACE_BOX`, where the detector puts the face of an FFHQ-aligned image."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"expected aligned images (N, 3, H, W), got shape {tuple(images.shape)}")
        height, width = images.shape[-2:]
        left, top, right, bottom = FFHQ_FACE_BOX
        box = torch.tensor([[left * width, top * height, right * width, bottom * height]])
        return torch.stack([self.landmarks_in_boxes(image.float(), box)[0][0] for image in images])

    @torch.no_grad()
    def expression_vectors(self, images: Tensor) -> Tensor:
        """The seven expression probabilities (`EXPRESSION_LABELS`) of the aligned faces."""
        return self.expressions(self.aligned_attribute_crops(images.to(self.device, torch.float32))).float().cpu()

    @torch.no_grad()
    def attributes(self, images: Tensor) -> dict[str, Tensor]:
        crops = self.aligned_attribute_crops(images.to(self.device, torch.float32))
        age_gender = self.age_gender(crops)
        expressions = self.expressions(crops)
        scores = {"age": age_gender.age, "gender": age_gender.male_probability}
        scores.update({label: expressions[:, index] for index, label in enumerate(EXPRESSION_LABELS)})
        scores["smile"] = scores["happy"]
        return scores

    def expressions(self, crops: Tensor) -> Tensor:
        """Expression probabilities ``(N, 7)`` (labels in `EXPRESSION_LABELS` order) of 112² crops."""
        return self.net("face_expression").probabilities(crops.to(self.device))

    def age_gender(self, crops: Tensor) -> AgeGender:
        """Age in years and probability of male of 112² crops."""
        return self.net("age_gender")(crops.to(self.device))

    def _check_image(self, image: Tensor) -> Tensor:
        if image.ndim != 3 or image.shape[0] != 3:
            raise InputError(f"expected one RGB image (3, H, W), got shape {tuple(image.shape)}")
        if min(image.shape[-2:]) < 1:
            raise InputError(f"the image is empty ({tuple(image.shape)})")
        return image.to(self.device, torch.float32)
