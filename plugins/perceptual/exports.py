"""Reading the perceptual networks' exports: ``weights=`` as a path or an asset name."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from lswap_core.assets import resolve_weights
from lswap_core.checkpoints import Export, load_state_strict, read_export
from lswap_core.errors import CheckpointError

KIND = "perceptual"  # the export kind of these networks; they are loss networks, not a plugin component kind


def read_perceptual_export(weights: str | Path, name: str) -> Export:
    """The export of network ``name`` (``lpips-alex``, ``vgg16-nvidia``...) that ``weights`` names.

    :raises CheckpointError: when it is not fetched, or holds another network.
    """
    path = resolve_weights(weights, KIND, name)
    export = read_export(path)
    if (export.kind, export.name) != (KIND, name):
        raise CheckpointError(
            f"{path} holds the {export.kind.replace('_', ' ')} {export.name!r}, not the perceptual network {name!r}",
            hint="pass the export made for this network (see `lswap weights list`)",
        )
    return export


def load_into(module: nn.Module, export: Export, source: str | Path) -> nn.Module:
    """Load an export's tensors strictly, frozen and in eval mode."""
    load_state_strict(module, export.tensors, source=str(source))
    return module.eval().requires_grad_(False)
