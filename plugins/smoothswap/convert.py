"""Import of the official smooth identity embedder checkpoint (a PyTorch Lightning ``.ckpt``).

LatentSwap's README links ``epoch=5-step=109999.ckpt``; its ``state_dict``
holds the embedder under ``net.`` (``net.resnet.conv1.weight``...,
``net.last.0.weight``...), which latentswap_pl.py strips before loading.
Lightning also pickles hyper-parameters and callback state; the restricted
unpickler reads those as inert data.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.official_files import check_block_numbers, file_head, load_state_dict, reading_structure, require_keys
from lswap_plugins.backbones.resnet import count_blocks

PREFIX = "net."
WHAT = "a smooth identity embedder checkpoint (Lightning, weights under `net.`)"
_SIGNATURE = ("net.resnet.conv1.weight", "net.resnet.fc.weight", "net.last.0.weight", "net.last.3.weight")


class SmoothSwapConverter(Converter):
    """LatentSwap's smooth identity embedder, from its Lightning checkpoint."""

    name = "smoothswap"
    description = "LatentSwap smooth identity embedder, Lightning .ckpt (state_dict under net.)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        tensors = file_head(path).state_dict("state_dict")
        return tensors is not None and all(key in tensors for key in _SIGNATURE)

    def convert(self, path: Path) -> ConvertedWeights:
        state = load_state_dict(path, "state_dict", WHAT)
        require_keys(state, list(_SIGNATURE), path, WHAT)
        tensors = {key[len(PREFIX) :]: value for key, value in state.items() if key.startswith(PREFIX)}
        with reading_structure(path, WHAT):
            config = config_from_tensors(tensors)
            check_block_numbers(path, tensors, "resnet.", config["layers"], WHAT)  # type: ignore[arg-type]
        return ConvertedWeights(
            kind="embedder",
            name="smoothswap",
            config=config,
            tensors=tensors,
            provenance={"format": "LatentSwap smooth identity embedder, PyTorch Lightning checkpoint"},
        )


def config_from_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, object]:
    """The `SmoothSwapConfig` values that the tensor shapes determine (the rest keep the official defaults)."""
    return {
        "layers": count_blocks(list(tensors), "resnet."),
        "width": tensors["resnet.conv1.weight"].shape[0],
        "fc_dim": tensors["resnet.fc.weight"].shape[0],
        "hidden_dim": tensors["last.0.weight"].shape[0],
        "embedding_dim": tensors["last.3.weight"].shape[0],
    }
