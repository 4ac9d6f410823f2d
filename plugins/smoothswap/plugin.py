"""Hook implementations of the ``smoothswap`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl

CHECKPOINT = "epoch=5-step=109999.ckpt"


@hookimpl
def lswap_register_embedders(register):
    from .embedder import SmoothSwapEmbedder

    register(SmoothSwapEmbedder)


@hookimpl
def lswap_register_converters(register):
    from .convert import SmoothSwapConverter

    register(SmoothSwapConverter)


@hookimpl
def lswap_register_assets(register):
    from lswap_core.assets import Asset, AssetFile, Conversion

    register(
        Asset(
            name="smoothswap",
            description="smooth identity embedder of LatentSwap's identity loss (ResNet-50, 512-d)",
            licence="MIT (LatentSwap repository; no separate terms for the weights)",
            homepage="https://github.com/usingcolor/LatentSwap",
            files=(AssetFile(CHECKPOINT),),
            manual=(
                f"download {CHECKPOINT} from Google Drive, "
                "https://drive.google.com/file/d/1Wumi0CiBVkdPr6qukAHD9f3mSDOeOLo_/view "
                "(LatentSwap README, 'Pre-Trained Model for Smooth Identity Embedder')"
            ),
            conversions=(Conversion(CHECKPOINT, "smoothswap.safetensors", "smoothswap"),),
        )
    )
