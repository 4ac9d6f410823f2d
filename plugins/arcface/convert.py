"""Import of the official ArcFace checkpoints: plain state dicts in two key layouts.

- ``model_ir_se50.pth`` (TreB1eN/InsightFace_Pytorch, used by pSp/e4e/PTI):
  ``input_layer.*``, ``body.N.*``, ``output_layer.*``;
- insightface arcface_torch ``backbone.pth`` (iresnet50/100...):
  ``conv1.*``, ``layerK.N.*``, ``fc.*``, ``features.*``.

Either becomes an ``arcface`` export with the tensors under ``net.``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_plugins.backbones.irse import stage_blocks
from lswap_core.official_files import check_block_numbers, file_head, load_state_dict, reading_structure, require_keys
from lswap_plugins.backbones.resnet import count_blocks

from .embedder import PUBLISHED_BLOCKS

IRSE_SIGNATURE = ("input_layer.0.weight", "input_layer.2.weight", "body.0.res_layer.0.weight", "output_layer.3.weight")
IRESNET_SIGNATURE = ("conv1.weight", "prelu.weight", "layer1.0.bn1.weight", "fc.weight", "features.weight")


class _StateDictConverter(Converter):
    signature: tuple[str, ...]
    what: str

    @classmethod
    def sniff(cls, path: Path) -> bool:
        tensors = file_head(path).state_dict()
        return tensors is not None and all(key in tensors for key in cls.signature)

    def _read(self, path: Path) -> dict[str, torch.Tensor]:
        tensors = load_state_dict(path, None, self.what)
        require_keys(tensors, list(self.signature), path, self.what)
        return tensors

    def _result(self, tensors: dict[str, torch.Tensor], config: dict[str, object], source: str) -> ConvertedWeights:
        if config.get("blocks") == PUBLISHED_BLOCKS[str(config["backbone"])]:
            config["blocks"] = None
        return ConvertedWeights(
            kind="embedder",
            name="arcface",
            config=config,
            tensors={f"net.{key}": value for key, value in tensors.items()},
            provenance={"format": source},
        )


class IRSEConverter(_StateDictConverter):
    """TreB1eN's IR-SE-50 state dict (``model_ir_se50.pth``), as used by pSp, e4e and PTI."""

    name = "arcface-ir-se"
    description = "ArcFace IR-SE-50 state dict (model_ir_se50.pth, as used by pSp/e4e/PTI)"
    signature = IRSE_SIGNATURE
    what = "an IR-SE ArcFace state dict (model_ir_se50.pth)"

    def convert(self, path: Path) -> ConvertedWeights:
        tensors = self._read(path)
        shapes = {key: tuple(value.shape) for key, value in tensors.items()}
        with reading_structure(path, self.what):
            config = {
                "backbone": "ir_se50",
                "blocks": stage_blocks(shapes),
                "width": shapes["input_layer.0.weight"][0],
                "embedding_dim": shapes["output_layer.3.weight"][0],
            }
        return self._result(tensors, config, "TreB1eN IR-SE state dict")


class IResNetConverter(_StateDictConverter):
    """insightface arcface_torch iresnet state dict (``backbone.pth``)."""

    name = "arcface-iresnet"
    description = "insightface arcface_torch iresnet state dict (backbone.pth: r50, r100...)"
    signature = IRESNET_SIGNATURE
    what = "an insightface iresnet state dict (backbone.pth)"

    def convert(self, path: Path) -> ConvertedWeights:
        tensors = self._read(path)
        with reading_structure(path, self.what):
            blocks = count_blocks(list(tensors))
            check_block_numbers(path, tensors, "", blocks, self.what)
            backbone = "iresnet100" if blocks == PUBLISHED_BLOCKS["iresnet100"] else "iresnet50"
            config = {
                "backbone": backbone,
                "blocks": blocks,
                "width": tensors["conv1.weight"].shape[0],
                "embedding_dim": tensors["fc.weight"].shape[0],
            }
        return self._result(tensors, config, "insightface arcface_torch iresnet state dict")
