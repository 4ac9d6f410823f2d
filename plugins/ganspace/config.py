"""Config of the ``ganspace`` editor and the named FFHQ edits PTI and e4e use."""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

EditMode = Literal["additive", "set"]
NamedEdits = Literal["none", "ffhq"]


class NamedEdit(NamedTuple):
    """One of PTI's GANSpace edits: component ``index`` over rows ``[start, end)``, moved to ``strength``."""

    index: int
    start: int
    end: int  # exclusive, as GANSpace and PTI store it
    strength: float


# danielroich/PTI ``editings/latent_editor_wrapper.py`` (also e4e's editing notebook), for the
# official StyleGAN2 FFHQ PCA (``ffhq_pca.pt``, 80 components of W).
FFHQ_EDITS: dict[str, NamedEdit] = {
    "eye_openness": NamedEdit(54, 7, 8, 5.0),
    "smile": NamedEdit(46, 4, 5, -6.0),
    "trimmed_beard": NamedEdit(58, 7, 9, 7.0),
}
NAMED_EDITS: dict[str, dict[str, NamedEdit]] = {"none": {}, "ffhq": FFHQ_EDITS}


@dataclasses.dataclass
class GanSpaceConfig:
    """Shape of the PCA and how edits apply.

    ``mode``: ``additive`` is GANSpace's edit, δ = strength·stdev·component added
    to the chosen rows (strength in standard deviations); ``set`` is PTI's and
    e4e's, which *sets* the component's coordinate of row 0 to ``strength``
    (in standard deviations) and adds that same offset to the chosen rows.
    ``named_edits``: ``ffhq`` adds PTI's named edits (eye_openness, smile,
    trimmed_beard), meaningful only for the official FFHQ PCA.
    """

    w_dim: int = 512  # width of W (the generator's w_dim)
    components: int = 80  # principal components kept (the official default c = 80)
    mode: EditMode = "additive"  # GANSpace's default; "set" reproduces PTI/e4e
    named_edits: NamedEdits = "none"

    def __post_init__(self) -> None:
        if self.w_dim < 1:
            raise ValueError(f"w_dim must be positive, got {self.w_dim}")
        if not 1 <= self.components <= self.w_dim:
            raise ValueError(f"components must be between 1 and w_dim ({self.w_dim}), got {self.components}")
        if self.mode not in ("additive", "set"):
            raise ValueError(f"mode must be 'additive' or 'set', got {self.mode!r}")
        edits = NAMED_EDITS.get(self.named_edits)
        if edits is None:
            raise ValueError(f"named_edits must be one of {', '.join(NAMED_EDITS)}, got {self.named_edits!r}")
        highest = max((edit.index for edit in edits.values()), default=-1)
        if highest >= self.components:
            raise ValueError(
                f"named_edits {self.named_edits!r} use component {highest}, but the PCA has {self.components}"
            )
