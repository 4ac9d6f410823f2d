"""Fitting an InterFaceGAN boundary from latent codes and attribute scores.

Restates ``train_boundary`` of genforce/interfacegan ``utils/manipulator.py``:
the samples with the highest and lowest scores are the two classes of a
linear SVM whose unit normal is the boundary. The SVM is scikit-learn's
``SVC(kernel='linear')`` (libsvm, C = 1, tol 1e-3) exactly as the official
code builds it, so fits agree with the official ones on the same data and
seed. scikit-learn is the optional extra ``lswap[svm]``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from lswap_core.errors import InputError, LswapError
from lswap_core.files import atomic_path, atomic_write_text


class MissingExtraError(LswapError):
    """An optional dependency of the command is not installed."""


@dataclasses.dataclass(frozen=True)
class BoundaryFit:
    """What `train_boundary` found.

    :param boundary: ``(1, D)`` float32 unit normal, the official file's content.
    :param validation_accuracy: accuracy on the held-out top/bottom samples.
    :param remaining_accuracy: accuracy on the middle samples, labelled by
        score ≥ (max + min) / 2 as the official log does; ``None`` when none remain.
    :param samples: codes used after dropping invalid scores.
    :param chosen: samples per class (top and bottom).
    :param train: training samples per class; the rest of ``chosen`` validates.
    """

    boundary: np.ndarray
    validation_accuracy: float
    remaining_accuracy: float | None
    samples: int
    chosen: int
    train: int


def linear_svc() -> Any:
    """The official classifier, ``sklearn.svm.SVC(kernel='linear')``."""
    try:
        from sklearn import svm
    except ImportError:
        raise MissingExtraError(
            "fitting boundaries needs scikit-learn", hint="install it with pip install 'lswap[svm]'"
        ) from None
    return svm.SVC(kernel="linear")


def chosen_count(samples: int, ratio: float) -> int:
    """Samples per class: int(N·ratio) for 0 < ratio ≤ 1, else int(ratio); at most N // 2 (official rule)."""
    chosen = int(samples * ratio) if 0 < ratio <= 1 else int(ratio)
    return min(chosen, samples // 2)


def train_boundary(
    codes: np.ndarray,
    scores: np.ndarray,
    *,
    ratio: float = 0.02,
    split: float = 0.7,
    invalid_value: float | None = None,
    rng: np.random.RandomState | int = 0,
) -> BoundaryFit:
    """Fit the boundary of the attribute ``scores`` measure in the space of ``codes``.

    :param codes: ``(N, D)`` latent codes (W codes before truncation, as the
        official ``generate_data.py`` records them).
    :param scores: ``(N,)`` or ``(N, 1)`` attribute scores, higher = more of it.
    :param ratio: samples per class as a fraction of N in (0, 1], or a count
        above 1 (official ``chosen_num_or_ratio``, default 0.02).
    :param split: fraction of each class used for training (official 0.7).
    :param invalid_value: scores equal to it are dropped, as the official
        ``invalid_value``; NaN scores are always dropped.
    :param rng: shuffles each class (positives first, then negatives); the
        official code shuffles with the global NumPy generator, so
        ``np.random.seed(s)`` there equals ``rng=s`` here.
    """
    codes, scores = _checked(codes, scores, ratio, split)
    keep = ~np.isnan(scores[:, 0])
    if invalid_value is not None:
        keep &= scores[:, 0] != invalid_value
    codes, scores = codes[keep], scores[keep]
    # Descending by score, with the official (unstable) sort so ties fall the same way.
    order = np.argsort(scores, axis=0)[::-1, 0]
    codes, scores = codes[order], scores[order]
    samples = codes.shape[0]
    chosen = chosen_count(samples, ratio)
    train = int(chosen * split)
    if train < 1 or chosen - train < 1:
        raise InputError(
            f"{samples} usable samples with ratio {ratio} and split {split} leave {chosen} per class, "
            f"too few for a training and a validation sample each",
            hint="give more samples or a larger --ratio",
        )
    shuffle = rng if isinstance(rng, np.random.RandomState) else np.random.RandomState(rng)
    positive = np.arange(chosen)
    shuffle.shuffle(positive)
    negative = np.arange(chosen)
    shuffle.shuffle(negative)
    top, bottom = codes[:chosen], codes[-chosen:]
    train_data = np.concatenate([top[positive[:train]], bottom[negative[:train]]])
    train_label = np.concatenate([np.ones(train, dtype=int), np.zeros(train, dtype=int)])
    val_num = chosen - train
    val_data = np.concatenate([top[positive[train:]], bottom[negative[train:]]])
    val_label = np.concatenate([np.ones(val_num, dtype=int), np.zeros(val_num, dtype=int)])

    classifier = linear_svc().fit(train_data, train_label)
    validation_accuracy = float(np.sum(classifier.predict(val_data) == val_label)) / (2 * val_num)
    remaining_accuracy = None
    if samples > 2 * chosen:
        middle, middle_scores = codes[chosen:-chosen], scores[chosen:-chosen].ravel()
        middle_label = (middle_scores >= (scores[0, 0] + scores[-1, 0]) / 2).astype(int)
        remaining_accuracy = float(np.mean(classifier.predict(middle) == middle_label))
    normal = classifier.coef_.reshape(1, codes.shape[1]).astype(np.float32)
    norm = np.linalg.norm(normal)
    if not np.isfinite(norm) or norm == 0:
        raise InputError("the SVM found no direction (the two classes cannot be told apart)", hint="check the scores")
    return BoundaryFit(normal / norm, validation_accuracy, remaining_accuracy, samples, chosen, train)


def _checked(codes: Any, scores: Any, ratio: float, split: float) -> tuple[np.ndarray, np.ndarray]:
    codes, scores = np.asarray(codes), np.asarray(scores)
    if codes.ndim != 2 or codes.dtype.kind not in "fiu" or codes.shape[0] < 2 or codes.shape[1] < 1:
        raise InputError(
            f"codes must be an (N, D) numeric array, got shape {codes.shape} of {codes.dtype}",
            hint="save W codes as (N, w_dim)",
        )
    if not np.isfinite(codes).all():
        raise InputError("codes hold non-finite values", hint="drop those samples")
    if scores.dtype.kind not in "fiu" or scores.shape not in ((codes.shape[0],), (codes.shape[0], 1)):
        raise InputError(
            f"scores of shape {scores.shape} do not fit {codes.shape[0]} codes",
            hint="give one score per code, (N,) or (N, 1)",
        )
    if not (np.isfinite(ratio) and ratio > 0):
        raise InputError(f"ratio must be positive, got {ratio}", hint="0.02 takes the top and bottom 2 %")
    if not (np.isfinite(split) and 0 < split < 1):
        raise InputError(f"split must lie between 0 and 1, got {split}", hint="0.7 trains on 70 % of each class")
    return codes, scores.reshape(-1, 1)


def save_boundary(
    fit: BoundaryFit,
    path: Path,
    *,
    name: str,
    ratio: float,
    split: float,
    seed: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the boundary in the official format (a ``(1, D)`` float32 ``.npy``) and ``PATH.json`` beside it, atomically."""
    # np.save on a path would append .npy to the temporary name, so it writes to a handle
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        np.save(handle, fit.boundary.astype(np.float32), allow_pickle=False)
    record = {
        "name": name,
        "method": "interfacegan train_boundary (SVC(kernel='linear'), C=1)",
        "samples": fit.samples,
        "ratio": ratio,
        "chosen_per_class": fit.chosen,
        "train_per_class": fit.train,
        "split": split,
        "seed": seed,
        "validation_accuracy": fit.validation_accuracy,
        "remaining_accuracy": fit.remaining_accuracy,
        "width": int(fit.boundary.shape[1]),
        **(extra or {}),
    }
    atomic_write_text(metadata_path(path), json.dumps(record, indent=2) + "\n")
    return path


def metadata_path(path: Path) -> Path:
    """The JSON beside a boundary: ``b.npy`` → ``b.json``."""
    return path.with_suffix(".json")
