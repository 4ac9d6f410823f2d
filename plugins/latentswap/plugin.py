"""Hooks of the built-in ``latentswap`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl


@hookimpl
def lswap_register_converters(register):
    from .converter import LatentSwapCheckpointConverter

    register(LatentSwapCheckpointConverter)


@hookimpl
def lswap_register_assets(register):
    from lswap_core.assets import Asset, AssetFile, Conversion

    register(
        Asset(
            name="latentswap-mixer",
            description="official LatentSwap latent mixer for StyleGAN2 FFHQ 1024, W+ (epoch=39-step=200000.ckpt)",
            licence="MIT (LatentSwap repository; no separate terms for the weights)",
            homepage="https://github.com/usingcolor/LatentSwap",
            files=(AssetFile("epoch=39-step=200000.ckpt"),),
            manual=(
                "download epoch=39-step=200000.ckpt from Google Drive, "
                "https://drive.google.com/file/d/1YsGy856Q1bqFoHhdascoNQrbOCcLK4fP/view "
                "(LatentSwap README, 'Pre-trained Model')"
            ),
            conversions=(Conversion("epoch=39-step=200000.ckpt", "latentswap-mixer.safetensors", "latentswap-ckpt"),),
        )
    )
