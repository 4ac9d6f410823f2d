"""Deep3DFaceRecon's 3DMM coefficient regressor with the Basel face model: the ``deep3dface`` shape model.

Deng et al., "Accurate 3D Face Reconstruction with Weakly-Supervised
Learning" (CVPRW 2019), PyTorch port sicxu/Deep3DFaceRecon_pytorch
(models/networks.py ``ReconNetWrapper``, models/bfm.py). A ResNet-50 on
224x224 RGB faces in ``[0, 1]`` regresses 257 coefficients with seven 1x1
convolution heads (``final_layers``): identity 80, expression 64, texture
80, angles 3, lighting 27 (spherical harmonics), translation 2 + 1. The
official checkpoint ``epoch_20.pth`` stores them under ``net_recon`` with
these parameter names.

LatentSwap's shape loss (paper section "Shape Loss"; official
model/loss.py) projects the 68 landmarks of the face with the source's
identity and the target's expression, pose and the rest
(``cat(source[:, :80], target[:, 80:])``, which `ShapeModel.fuse` computes).

Input crop (``crop``):

- ``"five_point"`` (default): Deep3DFaceRecon's own alignment, the crop the
  regressor was trained on (`lswap_plugins.deep3dface.crop`), with the five
  landmarks where FFHQ alignment puts them; `coefficients` also takes
  per-image landmarks.
- ``"resize"``: the official LatentSwap shortcut, the whole aligned image
  bilinearly resized to 224x224 (``F.interpolate``, no antialiasing unless
  ``antialias``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from lswap_core.errors import InputError
from lswap_core.conventions import ensure_rgb, resize
from lswap_core.interfaces import ImageConvention, ShapeCoefficients, ShapeModel
from lswap_plugins.backbones.face_templates import ffhq_five_points
from lswap_plugins.backbones.resnet import RESNET50_LAYERS, ResNet

from .crop import TARGET_SIZE, crop_window, five_point_crop
from .face_model import (
    EXP_DIMS,
    ID_DIMS,
    NUM_LANDMARKS,
    project,
    read_landmark_model,
    read_reference_points,
    rotation_matrix,
)

# Widths of the seven heads, in the order of the official 257-vector.
HEADS = {"identity": ID_DIMS, "expression": EXP_DIMS, "texture": 80, "angles": 3, "lighting": 27, "translation_xy": 2, "translation_z": 1}
COEFFICIENTS = sum(HEADS.values())  # 257


@dataclasses.dataclass
class Deep3DFaceConfig:
    layers: tuple[int, ...] = RESNET50_LAYERS  # bottleneck blocks per ResNet stage (ResNet-50)
    width: int = 64  # ResNet stem width (2048 pooled features)
    crop: Literal["five_point", "resize"] = "five_point"  # official LatentSwap: "resize"
    antialias: bool = False  # "resize" crop: official F.interpolate does not antialias
    focal: float = 1015.0  # camera of Deep3DFaceRecon (facerecon_model.py): focal length in pixels,
    center: float = 112.0  # principal point,
    camera_distance: float = 10.0  # and distance to the face's origin, decimetres

    def __post_init__(self) -> None:
        if len(self.layers) != 4 or min(self.layers) < 1:
            raise ValueError(f"layers must give 4 ResNet stages of at least one block, got {self.layers}")
        if self.width < 1 or self.focal <= 0 or self.camera_distance <= 0:
            raise ValueError("width, focal and camera_distance must be positive")


class Deep3DFaceShapeModel(ShapeModel):
    """Deep3DFaceRecon 3DMM regressor (ResNet-50, 257 coefficients) with Basel face model landmarks."""

    name = "deep3dface"
    description = "Deep3DFaceRecon 3DMM coefficient regressor + Basel face model 68 landmarks"
    config_class = Deep3DFaceConfig
    presets = {"latentswap": {"crop": "resize"}}

    def __init__(self, config: Deep3DFaceConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.backbone = ResNet(cfg.layers, cfg.width, num_classes=None)
        self.final_layers = nn.ModuleList(nn.Conv2d(self.backbone.feature_dim, width, 1) for width in HEADS.values())
        # The face model, read from the user's files by `load_face_model` and then carried in exports.
        self.register_buffer("landmark_mean", torch.zeros(NUM_LANDMARKS, 3))
        self.register_buffer("landmark_identity_basis", torch.zeros(NUM_LANDMARKS, 3, ID_DIMS))
        self.register_buffer("landmark_expression_basis", torch.zeros(NUM_LANDMARKS, 3, EXP_DIMS))
        self.register_buffer("alignment_reference", torch.zeros(5, 3))
        self.register_buffer("has_face_model", torch.tensor(False))

    # -- the face model --------------------------------------------------------------

    def load_face_model(self, bfm_path: str | Path, reference_path: str | Path) -> None:
        """Read the landmark model from ``BFM_model_front.mat`` and the alignment
        reference from ``similarity_Lm3D_all.mat`` into this module's buffers."""
        model = read_landmark_model(bfm_path)
        reference = read_reference_points(reference_path)
        with torch.no_grad():
            self.landmark_mean.copy_(model.mean)
            self.landmark_identity_basis.copy_(model.identity_basis)
            self.landmark_expression_basis.copy_(model.expression_basis)
            self.alignment_reference.copy_(reference)
            self.has_face_model.fill_(True)

    def _require_face_model(self) -> None:
        if not bool(self.has_face_model):
            raise InputError(
                "this deep3dface model has no Basel face model loaded",
                hint="load a converted export (`lswap weights fetch deep3dface`) or call load_face_model(bfm, reference)",
            )

    # -- the interface -----------------------------------------------------------------

    @property
    def num_landmarks(self) -> int:
        return NUM_LANDMARKS

    @property
    def input_convention(self) -> ImageConvention:
        size = (TARGET_SIZE, TARGET_SIZE)
        if self.config.crop == "resize":
            return ImageConvention(size=size, value_range=(0.0, 1.0))
        # The crop the FFHQ template gives, as fractions of any (square) aligned image.
        self._require_face_model()
        side = 1024
        height, width, top, left = crop_window(side, side, ffhq_five_points(side, side), self.alignment_reference.double().cpu().numpy())
        box = (left / width, top / height, (left + TARGET_SIZE) / width, (top + TARGET_SIZE) / height)
        return ImageConvention(size=size, crop=box, value_range=(0.0, 1.0))

    def preprocess(self, images: Tensor, five_points: Tensor | None = None) -> Tensor:
        """``(N, 3, H, W)`` aligned faces in ``[-1, 1]`` -> the ``(N, 3, 224, 224)`` ``[0, 1]`` regressor input.

        :param five_points: ``(N, 5, 2)`` landmarks (eyes, nose tip, mouth
            corners; pixels, y down) for the ``five_point`` crop; default:
            where FFHQ alignment puts them.
        """
        images = (ensure_rgb(images) + 1) / 2
        if self.config.crop == "resize":
            if five_points is not None:
                raise InputError("five_points are used by the five_point crop only", hint="build the model with crop='five_point'")
            return resize(images, (TARGET_SIZE, TARGET_SIZE), antialias=self.config.antialias)
        self._require_face_model()  # the crop needs the alignment reference
        reference = self.alignment_reference.double().cpu().numpy()
        if five_points is None:
            height, width = images.shape[-2:]
            points = ffhq_five_points(width, height)
        else:
            if five_points.shape != (images.shape[0], 5, 2):
                raise InputError(f"five_points must be (N, 5, 2) for {images.shape[0]} images, got {tuple(five_points.shape)}")
            points = five_points.detach().double().cpu().numpy()
        return five_point_crop(images, points, reference)

    def forward(self, x: Tensor) -> Tensor:
        """The official regressor: ``(N, 3, 224, 224)`` in ``[0, 1]`` -> ``(N, 257)`` coefficients."""
        features = self.backbone.features(x)[:, :, None, None]
        return torch.cat([head(features) for head in self.final_layers], dim=1).flatten(1)

    def coefficients(self, images: Tensor, five_points: Tensor | None = None) -> ShapeCoefficients:
        """Regress coefficients of ``(N, 3, H, W)`` aligned faces in ``[-1, 1]``.

        Parts: identity 80, expression 64, pose 6 (angles x, y, z in radians,
        then translation x, y, z), extra 107 (texture 80, then lighting 27).
        """
        return split_official(self(self.preprocess(images, five_points)))

    def landmarks(self, coefficients: ShapeCoefficients) -> Tensor:
        """``(N, 68, 2)`` landmarks, pixels of the 224x224 regressor input with y pointing down."""
        self._require_face_model()
        cfg = self.config
        shape = (
            self.landmark_mean
            + torch.einsum("kci,ni->nkc", self.landmark_identity_basis, coefficients.identity)
            + torch.einsum("kce,ne->nkc", self.landmark_expression_basis, coefficients.expression)
        )
        angles, translation = coefficients.pose[:, :3], coefficients.pose[:, 3:]
        posed = shape @ rotation_matrix(angles).transpose(1, 2) + translation[:, None, :]
        projected = project(posed, focal=cfg.focal, center=cfg.center, camera_distance=cfg.camera_distance)
        return torch.stack([projected[..., 0], TARGET_SIZE - 1 - projected[..., 1]], dim=-1)


def split_official(vector: Tensor) -> ShapeCoefficients:
    """Split official ``(N, 257)`` coefficients (bfm.py ``split_coeff`` order) into interface parts."""
    identity, expression, texture, angles, lighting, translation = vector.split([80, 64, 80, 3, 27, 3], dim=1)
    return ShapeCoefficients(identity, expression, torch.cat([angles, translation], 1), torch.cat([texture, lighting], 1))


def join_official(coefficients: ShapeCoefficients) -> Tensor:
    """The official ``(N, 257)`` vector of interface parts (inverse of `split_official`)."""
    texture, lighting = coefficients.extra.split([80, 27], dim=1)
    angles, translation = coefficients.pose.split([3, 3], dim=1)
    return torch.cat([coefficients.identity, coefficients.expression, texture, angles, lighting, translation], dim=1)
