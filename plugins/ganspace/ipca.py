"""Incremental PCA with scikit-learn's ``IncrementalPCA.partial_fit`` semantics, in float64 NumPy.

GANSpace fits its PCA of W with ``IncrementalPCA(c).partial_fit`` on
successive chunks (harskish/ganspace ``estimators.py``). Each partial fit
updates the running mean and variance (Chan et al.'s pairwise update), then
takes the SVD of the previous components scaled by their singular values,
the chunk centred on its own mean, and one row correcting for the shift of
the mean; the first ``K`` right singular vectors are the new components.
The state is a handful of arrays, so a long fit can be saved and resumed.
"""

from __future__ import annotations

import numpy as np


class IncrementalPCA:
    """Principal components of data seen in chunks; `partial_fit` one chunk at a time."""

    def __init__(self, n_components: int) -> None:
        self.n_components = n_components
        self.n_samples_seen = 0
        self.mean_: np.ndarray | None = None  # (D,) running mean
        self.var_: np.ndarray | None = None  # (D,) running per-feature variance (ddof 0)
        self.components_: np.ndarray | None = None  # (K, D) unit rows, by decreasing variance
        self.singular_values_: np.ndarray | None = None  # (K,)
        self.explained_variance_: np.ndarray | None = None  # (K,) S² / (n − 1)
        self.explained_variance_ratio_: np.ndarray | None = None  # (K,) S² / total variance·n

    def partial_fit(self, x: np.ndarray) -> None:
        """Update the fit with one chunk ``x: (n, D)``."""
        x = np.asarray(x, dtype=np.float64)
        n, d = x.shape
        k = self.n_components
        if self.n_samples_seen == 0 and not k <= min(n, d):
            raise ValueError(f"the first chunk needs at least {k} samples of at least {k} features, got {n}×{d}")
        if self.mean_ is not None and d != self.mean_.shape[0]:
            raise ValueError(f"chunks of {d} features after chunks of {self.mean_.shape[0]}")
        seen, total = self.n_samples_seen, self.n_samples_seen + n
        batch_mean = x.mean(axis=0)
        centred = x - batch_mean
        batch_sq = (centred**2).sum(axis=0)
        if seen == 0:
            mean, sq = batch_mean, batch_sq
            stacked = centred
        else:
            assert self.mean_ is not None and self.var_ is not None
            assert self.components_ is not None and self.singular_values_ is not None
            shift = batch_mean - self.mean_
            mean = self.mean_ + shift * (n / total)
            sq = self.var_ * seen + batch_sq + shift**2 * (seen * n / total)
            # The previous fit, as its scaled components, plus the mean correction row.
            correction = np.sqrt(seen * n / total) * (self.mean_ - batch_mean)
            stacked = np.vstack([self.singular_values_[:, None] * self.components_, centred, correction[None]])
        _, s, vt = np.linalg.svd(stacked, full_matrices=False)
        # scikit-learn's svd_flip(u_based_decision=False): each row's largest |entry| is positive.
        signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
        vt *= signs[:, None]
        self.n_samples_seen = total
        self.mean_, self.var_ = mean, sq / total
        self.components_, self.singular_values_ = vt[:k], s[:k]
        self.explained_variance_ = s[:k] ** 2 / (total - 1)
        self.explained_variance_ratio_ = s[:k] ** 2 / sq.sum()

    STATE_KEYS = ("mean_", "var_", "components_", "singular_values_", "explained_variance_", "explained_variance_ratio_")

    def state(self) -> dict[str, np.ndarray]:
        """The fit as arrays (for resuming); empty before the first chunk."""
        if self.n_samples_seen == 0:
            return {}
        state = {key: getattr(self, key) for key in self.STATE_KEYS}
        state["n_samples_seen"] = np.asarray(self.n_samples_seen, dtype=np.int64)
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from `state`; checks the number of components."""
        components = np.asarray(state["components_"], dtype=np.float64)
        if components.shape[0] != self.n_components:
            raise ValueError(f"a state of {components.shape[0]} components, not {self.n_components}")
        for key in self.STATE_KEYS:
            setattr(self, key, np.asarray(state[key], dtype=np.float64))
        self.n_samples_seen = int(state["n_samples_seen"])
