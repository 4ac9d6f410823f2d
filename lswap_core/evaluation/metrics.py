"""The swap metrics as plain functions of features, each with its formula.

The paper (section 4, after Zhu et al. 2020 and Xu et al. 2022) reports ID, expression and pose
errors and FID per latent space and λ (Table 1):

- **ID retrieval**: "the accuracy of a classification among swapped faces and all original faces".
  For swap *i* with identity embedding ``e_i`` and the sources' embeddings ``s_j`` (unit vectors),
  the prediction is ``argmax_j e_i · s_j``; the pair is right when that is its own source.
  Table 1's ID↓ is the error rate ``1 − accuracy``; Table 2's ID↑ the accuracy.
- **Expression**: "the mean square error between the expression features" of target and swap,
  ``mean_k (x_swap,k − x_target,k)²`` per pair, averaged over pairs.
- **Pose**: the same on the head pose angles (degrees): the mean squared error, and as a more
  readable figure the root of it per pair (degrees).
- **FID** (Heusel et al. 2017): ``|μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)`` between Gaussian fits
  of the swaps' and the targets' features, in float64.
- **KID** (Bińkowski et al. 2018): the unbiased estimate of the squared MMD with the kernel
  ``k(x, y) = (x·y / d + 1)³``, averaged over random subsets, with its standard deviation.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

MIN_PAIRS_RETRIEVAL = 2  # a retrieval among one source cannot fail
MIN_IMAGES_FID = 2  # a covariance needs two samples
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def retrieval_hits(swaps: Tensor, sources: Tensor, source_index: Tensor) -> Tensor:
    """``(N,)`` booleans: is swap *i*'s nearest source (cosine, among ``sources`` ``(S, D)``) its own
    (``source_index[i]``)? Embeddings are unit vectors, so cosine is the dot product."""
    similarity = swaps.double() @ sources.double().T
    return similarity.argmax(dim=1) == source_index.to(similarity.device)


def row_cosines(a: Tensor, b: Tensor) -> Tensor:
    """``(N,)`` cosine of row *i* of ``a`` with row *i* of ``b``."""
    a, b = a.double(), b.double()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def squared_errors(found: Tensor, reference: Tensor) -> Tensor:
    """``(N,)`` mean over features of the squared differences (the paper's expression and pose MSE)."""
    return (found.double() - reference.double()).square().mean(dim=1)


@dataclasses.dataclass(frozen=True)
class Gaussian:
    """Mean ``(D,)`` and covariance ``(D, D)`` of features, float64."""

    mean: Tensor
    covariance: Tensor

    @classmethod
    def fit(cls, features: Tensor) -> Gaussian:
        if features.shape[0] < MIN_IMAGES_FID:
            raise ValueError(f"a Gaussian fit needs at least {MIN_IMAGES_FID} feature vectors, got {features.shape[0]}")
        x = features.double()
        return cls(x.mean(0), torch.cov(x.T).reshape(x.shape[1], x.shape[1]))


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    """``|μa − μb|² + tr(Σa) + tr(Σb) − 2 tr((Σa Σb)^½)``.

    ``tr((Σa Σb)^½)`` is the sum of the square roots of the eigenvalues of ``Σa Σb``, which are
    those of the symmetric ``Σa^½ Σb Σa^½``: computed that way it stays real and needs no
    general matrix square root (negative rounding noise is clipped to zero).
    """
    root_a = _psd_sqrt(a.covariance)
    middle = root_a @ b.covariance @ root_a
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0)
    difference = a.mean - b.mean
    trace = a.covariance.trace() + b.covariance.trace() - 2 * eigenvalues.sqrt().sum()
    return float(difference @ difference + trace)


def _psd_sqrt(matrix: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def kernel_inception_distance(
    a: Tensor, b: Tensor, *, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE, seed: int = 0
) -> tuple[float, float]:
    """Mean and standard deviation over ``subsets`` random subsets (without replacement, of
    ``min(subset_size, len(a), len(b))`` rows each) of the unbiased MMD² estimate."""
    size = min(subset_size, a.shape[0], b.shape[0])
    if size < 2:
        raise ValueError(f"KID needs at least 2 feature vectors per set, got {a.shape[0]} and {b.shape[0]}")
    x_all, y_all = a.double(), b.double()
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        x = x_all[torch.randperm(x_all.shape[0], generator=generator)[:size]]
        y = y_all[torch.randperm(y_all.shape[0], generator=generator)[:size]]
        values.append(mmd2_unbiased(x, y))
    estimates = torch.tensor(values, dtype=torch.float64)
    return float(estimates.mean()), float(estimates.std(unbiased=False)) if subsets > 1 else 0.0


def mmd2_unbiased(x: Tensor, y: Tensor) -> float:
    """``1/(m(m−1)) Σ_{i≠j} [k(xi,xj) + k(yi,yj)] − 2/m² Σ_{i,j} k(xi,yj)`` with the cubic kernel."""
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    off_diagonal = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(off_diagonal - 2 * k_xy.mean())


def nan_mean(values: Tensor) -> float:
    """The mean of the finite values (faces a judge could not read are NaN); NaN when none is."""
    finite = values[torch.isfinite(values)]
    return float(finite.double().mean()) if finite.numel() else math.nan
