"""The networks that judge swaps: identity, head pose, expression and the FID features.

Pose and expression come from a 3DMM shape model when one is given (its expression
coefficients; its first three pose coefficients, rotation angles in radians, as
Deep3DFaceRecon's), else from the face analyzer: head angles solved from the 68 landmarks
it finds in the aligned face (`lswap_core.face_attributes.head_angles`) and its
expression features (faceapi: the seven expression probabilities).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from ..checkpoints import tensors_sha256
from ..errors import InputError
from ..face_attributes import head_angles
from ..interfaces import FaceAnalyzer, FeatureNetwork, IdentityEmbedder, ShapeModel
from .cache import FeatureCache


@dataclasses.dataclass
class EmbedderFeatures:
    """A registered identity embedder as the FID feature network (its unit vectors)."""

    embedder: IdentityEmbedder

    def features(self, images: Tensor) -> Tensor:
        return self.embedder.embed(images.to(self.embedder.device))


FeatureSource = FeatureNetwork | EmbedderFeatures


def network_id(name: str, module: torch.nn.Module) -> str:
    """A cache name that changes with the network's weights."""
    return f"{name}-{tensors_sha256(module.state_dict())[:12]}"


@dataclasses.dataclass
class Judges:
    """Everything that scores images, with the cache of what it scored before.

    :param fid_network: ``None`` skips FID and KID.
    :param fid_name: how reports name it (``inception``, an embedder's name).
    """

    embedder: IdentityEmbedder
    analyzer: FaceAnalyzer | None = None
    shape_model: ShapeModel | None = None
    fid_network: FeatureSource | None = None
    fid_name: str = "inception"
    cache: FeatureCache = dataclasses.field(default_factory=lambda: FeatureCache(None))

    def __post_init__(self) -> None:
        if self.analyzer is None and self.shape_model is None:
            raise InputError("pose and expression need a face analyzer or a shape model", hint="give --analyzer or --shape-model")
        self._ids = {"identity": network_id(f"identity-{self.embedder.name}", self.embedder)}
        if self.shape_model is not None:
            self._ids["face"] = network_id(f"shape-{self.shape_model.name}", self.shape_model)
        else:
            assert self.analyzer is not None
            self._ids["face"] = network_id(f"analyzer-{self.analyzer.name}", self.analyzer)
        if self.fid_network is not None:
            network = self.fid_network
            module = network.embedder if isinstance(network, EmbedderFeatures) else network
            self._ids["fid"] = network_id(f"fid-{self.fid_name}", module)

    def knows(self, keys: list[str], *, fid: bool) -> bool:
        """Whether every judge needed has these images cached (then they need not be rendered)."""
        kinds = ["identity", "face"] + (["fid"] if fid and self.fid_network is not None else [])
        return all(row is not None for kind in kinds for row in self.cache.lookup(self._ids[kind], keys))

    @property
    def pose_source(self) -> str:
        return f"3DMM angles ({self.shape_model.name})" if self.shape_model is not None else "landmarks (head_angles)"

    def identity(self, images: Tensor, keys: list[str]) -> Tensor:
        return self._cached(self._ids["identity"], images, keys, lambda x: self.embedder.embed(x.to(self.embedder.device)))

    def face(self, images: Tensor, keys: list[str]) -> tuple[Tensor, Tensor]:
        """``(N, 3)`` yaw, pitch, roll in degrees and ``(N, K)`` expression features."""
        rows = self._cached(self._ids["face"], images, keys, self._face_rows)
        return rows[:, :3], rows[:, 3:]

    def fid_features(self, images: Tensor, keys: list[str]) -> Tensor:
        assert self.fid_network is not None
        network = self.fid_network
        return self._cached(self._ids["fid"], images, keys, lambda x: network.features(x.to(_device_of(network))))

    def _face_rows(self, images: Tensor) -> Tensor:
        if self.shape_model is not None:
            coefficients = self.shape_model.coefficients(images.to(self.shape_model.device))
            angles = torch.rad2deg(coefficients.pose[:, :3].double())
            return torch.cat([angles, coefficients.expression.double()], dim=1).float().cpu()
        assert self.analyzer is not None
        try:
            landmarks = self.analyzer.aligned_landmarks(images)
            expressions = self.analyzer.expression_vectors(images)
        except NotImplementedError as error:
            raise InputError(str(error), hint="use the faceapi analyzer or give --shape-model") from None
        angles = torch.tensor([head_angles(points) for points in landmarks], dtype=torch.float64)
        return torch.cat([angles, expressions.double().cpu()], dim=1).float()

    def _cached(self, judge: str, images: Tensor, keys: list[str], compute: Callable[[Tensor], Tensor]) -> Tensor:
        found = self.cache.lookup(judge, keys)
        missing = [index for index, row in enumerate(found) if row is None]
        if missing:
            with torch.no_grad():
                rows = compute(images[missing]).float().cpu()
            self.cache.store(judge, [keys[index] for index in missing], rows)
            for index, row in zip(missing, rows, strict=True):
                found[index] = row
        return torch.stack([row for row in found if row is not None])


def _device_of(network: FeatureSource) -> torch.device:
    return network.embedder.device if isinstance(network, EmbedderFeatures) else network.device
