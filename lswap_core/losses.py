"""The three LatentSwap losses (paper, "Loss Functions", Eq. 1).

``L = L_id + λ·L_lp + μ·L_shape`` with λ = 100 and μ = 0.1 by default:

- ``L_id = 1 − cos(ID(I_s), ID(I_swap))``: the swap should carry the
  source's identity;
- ``L_lp = mean((w_t − w_swap)²)`` over every element of the codes: the swap
  should stay near the target's code (and so keep its attributes);
- ``L_shape = |q_swap − q_fuse|₁`` (mean over landmark coordinates): the
  swap's 3D landmarks should match a face with the source's identity
  coefficients and the target's expression and pose.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .interfaces import IdentityEmbedder, ShapeModel


def identity_loss(source_embeddings: Tensor, swap_embeddings: Tensor) -> Tensor:
    """Mean cosine distance between unit embeddings ``(N, D)``."""
    return (1 - (source_embeddings * swap_embeddings).sum(dim=1)).mean()


def latent_penalty(target_codes: Tensor, swap_codes: Tensor) -> Tensor:
    """Mean squared distance between target and swapped codes."""
    return F.mse_loss(swap_codes, target_codes)


def shape_loss(shape_model: ShapeModel, source: Tensor, target: Tensor, swap: Tensor) -> Tensor:
    """L1 distance between the swap's landmarks and the fused face's landmarks.

    The fused landmarks are a fixed target (no gradient), as in the official code.
    """
    with torch.no_grad():
        fused = shape_model.fuse(shape_model.coefficients(source), shape_model.coefficients(target))
        fused_landmarks = shape_model.landmarks(fused)
    swap_landmarks = shape_model.landmarks(shape_model.coefficients(swap))
    return F.l1_loss(swap_landmarks, fused_landmarks)


@dataclasses.dataclass
class LossWeights:
    identity: float = 1.0
    latent_penalty: float = 100.0  # λ (paper default 10²)
    shape: float = 0.1  # μ (paper); 0 trains without the shape model

    def __post_init__(self) -> None:
        for name in ("identity", "latent_penalty", "shape"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number, at least 0, got {value}")


class LatentSwapLoss(nn.Module):
    """Weighted sum of the three losses; the networks inside stay frozen.

    :param embedder: identity network for ``L_id``.
    :param shape_model: 3DMM regressor for ``L_shape``; ``None`` (or a zero
        weight) trains without it.
    """

    def __init__(self, embedder: IdentityEmbedder, shape_model: ShapeModel | None, weights: LossWeights) -> None:
        super().__init__()
        self.embedder = embedder.requires_grad_(False).eval()
        self.use_shape = shape_model is not None and weights.shape != 0
        self.shape_model = shape_model.requires_grad_(False).eval() if self.use_shape and shape_model else None
        self.weights = weights

    def forward(
        self,
        *,
        source_images: Tensor,
        target_images: Tensor | None,
        swap_images: Tensor,
        source_embeddings: Tensor,
        target_codes: Tensor,
        swap_codes: Tensor,
    ) -> dict[str, Tensor]:
        """All loss terms and their weighted ``total``; images ``(N, 3, H, W)`` in ``[-1, 1]``.

        ``target_images`` are needed only with the shape loss (``use_shape``).
        """
        terms = {
            "id": identity_loss(source_embeddings, self.embedder.embed(swap_images)),
            "lp": latent_penalty(target_codes, swap_codes),
        }
        total = self.weights.identity * terms["id"] + self.weights.latent_penalty * terms["lp"]
        if self.shape_model is not None:
            if target_images is None:
                raise ValueError("the shape loss needs the target images")
            terms["shape"] = shape_loss(self.shape_model, source_images, target_images, swap_images)
            total = total + self.weights.shape * terms["shape"]
        terms["total"] = total
        return terms
