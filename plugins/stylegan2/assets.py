"""The official StyleGAN2 FFHQ networks, as ``lswap weights`` knows them."""

from __future__ import annotations

from lswap_core.hookspecs import Register

NVIDIA_NC = "NVIDIA Source Code License-NC: non-commercial research only"
NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files"


def register_assets(register: Register) -> None:
    from lswap_core.assets import Asset, AssetFile, Conversion

    def converted(file_name: str, export: str) -> tuple[Conversion, ...]:
        converter = "stylegan2-nvlabs" if file_name.endswith(".pkl") else "stylegan2-rosinality"
        return (Conversion(file_name, f"{export}.safetensors", converter=converter),)

    register(
        Asset(
            name="stylegan2-ffhq",
            description="StyleGAN2 FFHQ 1024x1024 (stylegan2-ada-pytorch ffhq.pkl), the generator of LatentSwap and PTI",
            licence=NVIDIA_NC,
            homepage="https://github.com/NVlabs/stylegan2-ada-pytorch",
            files=(AssetFile("ffhq.pkl", url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl"),),
            conversions=converted("ffhq.pkl", "stylegan2-ffhq"),
        )
    )
    for resolution in (1024, 512, 256):
        file_name = f"stylegan2-ffhq-{resolution}x{resolution}.pkl"
        register(
            Asset(
                name=f"stylegan2-ffhq-{resolution}",
                description=f"StyleGAN2 FFHQ {resolution}x{resolution} (NVlabs, stylegan3 repository release)",
                licence=NVIDIA_NC,
                homepage="https://github.com/NVlabs/stylegan3",
                files=(AssetFile(file_name, url=f"{NGC}/{file_name}"),),
                conversions=converted(file_name, f"stylegan2-ffhq-{resolution}"),
            )
        )
    register(
        Asset(
            name="stylegan2-rosinality-ffhq",
            description="StyleGAN2 FFHQ 1024x1024 in rosinality's format (stylegan2-ffhq-config-f.pt), as e4e uses it",
            licence=f"{NVIDIA_NC} (weights converted from NVIDIA's StyleGAN2)",
            homepage="https://github.com/rosinality/stylegan2-pytorch",
            files=(AssetFile("stylegan2-ffhq-config-f.pt"),),
            manual=(
                "download stylegan2-ffhq-config-f.pt from Google Drive, "
                "https://drive.google.com/file/d/1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT/view "
                "(the 'FFHQ StyleGAN' link of the e4e README)"
            ),
            conversions=converted("stylegan2-ffhq-config-f.pt", "stylegan2-rosinality-ffhq"),
        )
    )
