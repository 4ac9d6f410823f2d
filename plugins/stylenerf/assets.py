"""The official StyleNeRF FFHQ generators, as ``lswap weights`` knows them."""

from __future__ import annotations

from lswap_core.hookspecs import Register

LICENCE = "CC BY-NC 4.0 (StyleNeRF); code from stylegan2-ada-pytorch under NVIDIA Source Code License-NC"
STYLENERF = "https://huggingface.co/facebook/stylenerf-ffhq-config-basic/resolve/main"


def register_assets(register: Register) -> None:
    from lswap_core.assets import Asset, AssetFile, Conversion

    for resolution in (1024, 512, 256):
        file_name = f"ffhq_{resolution}.pkl"
        register(
            Asset(
                name=f"stylenerf-ffhq-{resolution}",
                description=f"StyleNeRF FFHQ {resolution}x{resolution}, the 3D-aware generator of LatentSwap's Figure 9",
                licence=LICENCE,
                homepage="https://github.com/facebookresearch/StyleNeRF",
                files=(AssetFile(file_name, url=f"{STYLENERF}/{file_name}"),),
                conversions=(Conversion(file_name, f"stylenerf-ffhq-{resolution}.safetensors", converter="stylenerf"),),
            )
        )
