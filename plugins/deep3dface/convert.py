"""Import of the official Deep3DFaceRecon checkpoint, together with the face model it needs.

``epoch_20.pth`` holds the regressor's state dict under ``net_recon``. The
export also carries the Basel face model's landmark part and the alignment
reference, so that it is self-contained: the converter reads
``BFM_model_front.mat`` and ``similarity_Lm3D_all.mat`` from beside the
checkpoint, from the ``BFM`` folder of the Deep3DFaceRecon_pytorch checkout
it sits in, or else from the cache folders of the ``bfm`` and ``deep3dface``
assets (``lswap weights fetch``).
"""

from __future__ import annotations

from pathlib import Path

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.files import sha256_of
from lswap_core.official_files import check_block_numbers, file_head, load_state_dict, reading_structure, require_keys
from lswap_plugins.backbones.resnet import count_blocks

from .face_model import BFM_FILE, REFERENCE_FILE
from .model import Deep3DFaceConfig, Deep3DFaceShapeModel

KEY = "net_recon"
WHAT = "a Deep3DFaceRecon checkpoint (epoch_20.pth with net_recon)"
_SIGNATURE = ("backbone.conv1.weight", "backbone.layer4.0.conv1.weight", "final_layers.0.weight", "final_layers.6.bias")


def find_beside_or_cached(checkpoint: Path, file_name: str, asset: str) -> Path:
    """``file_name`` beside the checkpoint, in the BFM folder of a Deep3DFaceRecon_pytorch
    checkout (``checkpoints/<name>/epoch_20.pth`` beside ``BFM/``), or in the named asset's cache folder."""
    from lswap_core.assets import asset_path

    cached = asset_path(asset, file_name)
    candidates = [checkpoint.parent / file_name, cached]
    parents = checkpoint.resolve().parents
    if len(parents) > 2:
        candidates.insert(1, parents[2] / "BFM" / file_name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"converting {checkpoint.name} needs {file_name}, found neither beside it nor in {cached.parent}",
        hint=f"put {file_name} beside {checkpoint.name}, or run `lswap weights fetch {asset}` for where to get it",
    )


class Deep3DFaceConverter(Converter):
    """Deep3DFaceRecon_pytorch ``epoch_20.pth`` plus the Basel face model, into one ``deep3dface`` export."""

    name = "deep3dface"
    description = "Deep3DFaceRecon epoch_20.pth (net_recon) + BFM_model_front.mat + similarity_Lm3D_all.mat beside it"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        tensors = file_head(path).state_dict(KEY)
        return tensors is not None and all(key in tensors for key in _SIGNATURE)

    def convert(self, path: Path) -> ConvertedWeights:
        tensors = load_state_dict(path, KEY, WHAT)
        require_keys(tensors, list(_SIGNATURE), path, WHAT)
        bfm = find_beside_or_cached(path, BFM_FILE, "bfm")
        reference = find_beside_or_cached(path, REFERENCE_FILE, "deep3dface")
        with reading_structure(path, WHAT):
            layers = count_blocks(list(tensors), "backbone.")
            check_block_numbers(path, tensors, "backbone.", layers, WHAT)
            config = Deep3DFaceConfig(layers=layers, width=tensors["backbone.conv1.weight"].shape[0])
        face_model = Deep3DFaceShapeModel(config)
        face_model.load_face_model(bfm, reference)
        regressor_keys = {key for key in face_model.state_dict() if key.startswith(("backbone.", "final_layers."))}
        tensors.update({key: value for key, value in face_model.state_dict().items() if key not in regressor_keys})
        return ConvertedWeights(
            kind="shape_model",
            name="deep3dface",
            config={"layers": list(config.layers), "width": config.width},
            tensors=tensors,
            provenance={
                "format": "Deep3DFaceRecon_pytorch checkpoint (net_recon)",
                "face_model_file": bfm.name,
                "face_model_sha256": sha256_of(bfm),
                "reference_sha256": sha256_of(reference),
            },
        )
