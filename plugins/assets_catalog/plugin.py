"""Official files of components lswap has no plugin for yet: StyleNeRF generators.

Each asset belongs with the plugin of its component; until that plugin
exists, it is listed here so that ``lswap weights list`` is complete and the
files can be fetched and verified; they are kept as they are, unconverted.
"""

from __future__ import annotations

from lswap_core import hookimpl

NVIDIA_NC = "NVIDIA Source Code License-NC: non-commercial research only"
STYLENERF = "https://huggingface.co/facebook/stylenerf-ffhq-config-basic/resolve/main"


@hookimpl
def lswap_register_assets(register):
    from lswap_core.assets import Asset, AssetFile

    for resolution in (1024, 512, 256):
        file_name = f"ffhq_{resolution}.pkl"
        register(
            Asset(
                name=f"stylenerf-ffhq-{resolution}",
                description=f"StyleNeRF FFHQ {resolution}x{resolution}, the 3D-aware generator of LatentSwap's Figure 9",
                licence="CC BY-NC 4.0 (StyleNeRF); code from stylegan2-ada-pytorch under " + NVIDIA_NC,
                homepage="https://github.com/facebookresearch/StyleNeRF",
                files=(AssetFile(file_name, url=f"{STYLENERF}/{file_name}"),),
            )
        )
