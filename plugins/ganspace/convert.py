"""Import of official GANSpace PCAs: the ``.npz`` of harskish/ganspace and PTI/e4e's ``ffhq_pca.pt``.

- ``ganspace``: ``np.savez_compressed`` of ``act_comp``, ``act_mean``,
  ``act_stdev``, ``lat_comp (K, 1, D)``, ``lat_mean (1, D)``, ``lat_stdev (K,)``,
  ``var_ratio``, ``random_stdevs`` (what `lswap directions pca` writes too);
  read with ``allow_pickle=False``. The editor keeps the ``lat_*`` arrays.
  A file named as the official StyleGAN2 FFHQ cache (``stylegan2-ffhq_…``)
  gets PTI's named edits.
- ``ganspace-pti``: ``torch.save({'mean': (1, 512), 'comp': (80, 1, 512),
  'std': (80,)})`` (danielroich/PTI ``editings/ganspace_pca/ffhq_pca.pt``,
  the same file in e4e), the FFHQ PCA repackaged: it gets the named edits.
  Read with the restricted unpickler; nothing in it is executed.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.legacy_pickle import load_checkpoint
from lswap_core.official_files import TORCH_SUFFIXES, file_head

from .config import FFHQ_EDITS

NPZ_KEYS = ("lat_comp", "lat_mean", "lat_stdev")
PTI_KEYS = {"mean", "comp", "std"}
UNIT_TOLERANCE = 1e-3  # float32 files: rows are unit to ~1e-7; anything far off is another kind of data
FFHQ_WIDTH = 512
FFHQ_COMPONENTS = max(edit.index for edit in FFHQ_EDITS.values()) + 1


@dataclasses.dataclass
class PCAData:
    """A PCA of W as the editor stores it."""

    components: Tensor  # (K, D) unit rows
    mean: Tensor  # (D,)
    stdev: Tensor  # (K,)

    def weights(self, *, named_edits: str, provenance: dict[str, str]) -> ConvertedWeights:
        k, d = self.components.shape
        return ConvertedWeights(
            kind="editor",
            name="ganspace",
            config={"w_dim": d, "components": k, "mode": "additive", "named_edits": named_edits},
            tensors={"components": self.components, "mean": self.mean, "stdev": self.stdev},
            provenance=provenance,
        )


def check_pca(path: Path, comp: Tensor, mean: Tensor, std: Tensor, what: str) -> PCAData:
    """Shapes, finiteness and unit rows of a PCA read from ``path``; float32 tensors."""
    if comp.ndim not in (2, 3) or (comp.ndim == 3 and comp.shape[1] != 1):
        raise CheckpointError(f"{path}: components of shape {tuple(comp.shape)}, not (K, 1, D) or (K, D), so it is not {what}")
    comp = comp.reshape(comp.shape[0], -1).float()
    k, d = comp.shape
    if mean.numel() != d:
        raise CheckpointError(f"{path}: a mean of {mean.numel()} values for components {d} wide")
    if tuple(std.shape) != (k,):
        raise CheckpointError(f"{path}: stdevs of shape {tuple(std.shape)} for {k} components")
    if not 1 <= k <= d:
        raise CheckpointError(f"{path}: {k} components of width {d}, so it is not {what}")
    mean, std = mean.reshape(d).float(), std.float()
    if not (torch.isfinite(comp).all() and torch.isfinite(mean).all() and torch.isfinite(std).all()):
        raise CheckpointError(f"{path} holds NaN or infinite values", hint="pass the official file unmodified")
    norms = comp.norm(dim=1)
    if (norms - 1).abs().max() > UNIT_TOLERANCE:
        raise CheckpointError(
            f"{path}: component rows have norms {norms.min():.4g}..{norms.max():.4g}, not 1, so it is not {what}"
        )
    if (std <= 0).any():
        raise CheckpointError(f"{path}: stdevs must be positive, so it is not {what}")
    return PCAData(comp.contiguous(), mean.contiguous(), std.contiguous())


def read_npz(path: Path) -> PCAData:
    """The ``lat_*`` arrays of an official GANSpace ``.npz``, read without pickles."""
    what = "a GANSpace PCA (.npz with lat_comp, lat_mean, lat_stdev)"
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in NPZ_KEYS if key not in data.files]
            if missing:
                raise CheckpointError(f"{path} has no {', '.join(missing)}, so it is not {what}")
            arrays = {key: np.asarray(data[key]) for key in NPZ_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"cannot read {path} as {what}: {exc}", hint="pass the official file") from None
    for key, value in arrays.items():
        if not np.issubdtype(value.dtype, np.floating):
            raise CheckpointError(f"{path}: {key} holds {value.dtype}, not floats, so it is not {what}")
    tensors = {key: torch.from_numpy(value.astype(np.float32)) for key, value in arrays.items()}
    return check_pca(path, tensors["lat_comp"], tensors["lat_mean"], tensors["lat_stdev"], what)


def read_pti(path: Path) -> PCAData:
    """PTI/e4e's ``ffhq_pca.pt``: ``{mean, comp, std}``, read as inert data."""
    what = "PTI's ffhq_pca.pt ({mean, comp, std})"
    data = load_checkpoint(path)
    if not isinstance(data, Mapping) or not PTI_KEYS <= set(data):
        found = ", ".join(map(str, list(data)[:6])) if isinstance(data, Mapping) else type(data).__name__
        raise CheckpointError(f"{path} holds {found}, so it is not {what}", hint="pass the official file")
    values = {key: data[key] for key in PTI_KEYS}
    for key, value in values.items():
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise CheckpointError(f"{path}: {key} is not a float tensor, so it is not {what}")
    return check_pca(path, values["comp"], values["mean"], values["std"], what)


def is_ffhq(pca: PCAData) -> bool:
    k, d = pca.components.shape
    return d == FFHQ_WIDTH and k >= FFHQ_COMPONENTS


class GanSpaceNpzConverter(Converter):
    """The official GANSpace ``.npz`` (and `lswap directions pca` output) as a ``ganspace`` editor."""

    name = "ganspace"
    description = "GANSpace PCA (.npz with lat_comp, lat_mean, lat_stdev) as a ganspace editor"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        if path.suffix.lower() != ".npz" or not file_head(path).is_zip:
            return False
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
        return all(f"{key}.npy" in names for key in NPZ_KEYS)

    def convert(self, path: Path) -> ConvertedWeights:
        pca = read_npz(path)
        # The official cache is named {model}-{class}_{layer}_..., e.g. stylegan2-ffhq_style_ipca_c80_n1000000_w.npz.
        ffhq = is_ffhq(pca) and path.name.lower().startswith("stylegan2-ffhq")
        return pca.weights(
            named_edits="ffhq" if ffhq else "none",
            provenance={"format": "GANSpace PCA npz (lat_comp, lat_mean, lat_stdev)"},
        )


class GanSpacePTIConverter(Converter):
    """PTI/e4e's ``ffhq_pca.pt`` as a ``ganspace`` editor with PTI's named edits."""

    name = "ganspace-pti"
    description = "PTI/e4e ffhq_pca.pt ({mean, comp, std}) as a ganspace editor with PTI's named edits"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        if path.suffix.lower() not in TORCH_SUFFIXES:
            return False
        data = file_head(path).peek()
        return isinstance(data, Mapping) and set(data) == PTI_KEYS

    def convert(self, path: Path) -> ConvertedWeights:
        pca = read_pti(path)
        return pca.weights(
            named_edits="ffhq" if is_ffhq(pca) else "none",
            provenance={"format": "PTI/e4e GANSpace PCA (ffhq_pca.pt: mean, comp, std)"},
        )
