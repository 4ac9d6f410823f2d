"""Import of InterFaceGAN boundaries into an ``interfacegan`` editor export.

Reads, without executing anything stored in them:

- official boundaries, ``.npy`` of shape ``(1, D)`` and unit norm (float64
  as genforce/interfacegan ships them, float32 as ``train_boundary`` and
  ``lswap directions fit`` write them); the direction is named after the
  attribute, ``stylegan_ffhq_smile_w_boundary.npy`` → ``smile``. Official
  names without ``_w`` are boundaries of Z and are refused;
- the StyleGAN2-FFHQ directions PTI and e4e ship,
  ``editings/interfacegan_directions/{age,smile,rotation}.pt`` (``torch.save``
  of a ``(1, 512)`` tensor; e4e's ``pose.pt`` repeats it on 18 rows);
- a folder of such files, as one export with every direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.official_files import TORCH_SUFFIXES, file_head

from .boundaries import boundary_name, is_z_space_file, read_boundary

NUMPY_MAGIC = b"\x93NUMPY"
MAX_BOUNDARY_BYTES = 1 << 20  # a (1, 18, 512) float32 direction is 37 KB; anything far larger is something else
WHAT = "an InterFaceGAN boundary ((1, D) unit vector in .npy or .pt)"


class InterFaceGANConverter(Converter):
    """InterFaceGAN boundaries (.npy) and PTI/e4e direction tensors (.pt), one file or a folder of them."""

    name = "interfacegan"
    description = "InterFaceGAN boundary .npy, PTI/e4e interfacegan_directions/*.pt, or a folder of them"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        if path.is_dir():
            files = boundary_files(path)
            return bool(files) and all(_sniff_file(file) for file in files)
        return _sniff_file(path)

    def convert(self, path: Path) -> ConvertedWeights:
        files = boundary_files(path) if path.is_dir() else [path]
        if not files:
            raise CheckpointError(
                f"{path} holds no .npy or .pt boundaries", hint="put the boundary files in the folder"
            )
        names: list[str] = []
        vectors: list[torch.Tensor] = []
        for file in files:
            if is_z_space_file(file):
                raise CheckpointError(
                    f"{file.name} is an InterFaceGAN boundary of Z (no _w in its name); lswap edits W codes",
                    hint="use the _w_ file of that attribute",
                )
            name = boundary_name(file)
            if name in names:
                raise CheckpointError(f"{path} holds two boundaries named {name!r}", hint="keep one file per attribute")
            vector = read_boundary(file)
            if vectors and vector.numel() != vectors[0].numel():
                raise CheckpointError(
                    f"{file.name} is {vector.numel()} wide but {files[0].name} is {vectors[0].numel()}",
                    hint="gather boundaries of one generator",
                )
            names.append(name)
            vectors.append(vector)
        return ConvertedWeights(
            kind="editor",
            name="interfacegan",
            config={"w_dim": vectors[0].numel(), "names": names},
            tensors={"boundaries": torch.stack(vectors)},
            provenance={"format": "InterFaceGAN boundaries", "files": ", ".join(file.name for file in files)},
        )


def boundary_files(folder: Path) -> list[Path]:
    """The visible ``.npy`` and ``.pt``/``.pth`` files of a folder, by name."""
    suffixes = (".npy", *TORCH_SUFFIXES)
    return sorted(
        p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file() and p.suffix.lower() in suffixes
    )


def _sniff_file(path: Path) -> bool:
    """A small ``.npy`` array, or a ``torch.save`` of one tensor, of shape (1, D) or (1, L, D)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_BOUNDARY_BYTES:
            return False
    except OSError:
        return False
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy_shape(path) is not None
    if suffix in TORCH_SUFFIXES:
        tensor = file_head(path).peek()
        return isinstance(tensor, torch.Tensor) and tensor.ndim in (2, 3) and tensor.shape[0] == 1
    return False


def _npy_shape(path: Path) -> tuple[int, ...] | None:
    """The shape in a ``.npy`` header when it is a (1, D) or (1, L, D) array, read without the data."""
    try:
        with open(path, "rb") as handle:
            if handle.read(6) != NUMPY_MAGIC:
                return None
            handle.seek(0)
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, _ = read_header(handle)  # the header only: no data, no pickle
    except (ValueError, OSError, SyntaxError, TypeError):
        return None
    return shape if len(shape) in (2, 3) and shape[0] == 1 else None
