"""The official files of the perceptual networks: where they come from, their terms and hashes."""

from __future__ import annotations

import re
from pathlib import Path

from lswap_core.assets import Asset, AssetFile, Conversion
from lswap_core.errors import DownloadError
from lswap_core.files import sha256_of

LPIPS_WHEEL = AssetFile(
    "lpips-0.1.4-py3-none-any.whl",
    url="https://files.pythonhosted.org/packages/9b/13/1df50c7925d9d2746702719f40e864f51ed66f307b20ad32392f1ad2bb87/lpips-0.1.4-py3-none-any.whl",
    sha256="fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e",  # PyPI's published hash of the wheel
)
ALEXNET = AssetFile(
    "alexnet-owt-7be5be79.pth",
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    sha256=None,  # torchvision publishes only the first 8 hex digits (in the name): recorded on first fetch, prefix checked
)
VGG16_TORCHVISION = AssetFile(
    "vgg16-397923af.pth",
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    # Full hash as recorded by genforce's perceptual model (models/perceptual_model.py); it starts with the
    # 8 digits torchvision puts in the name.
    sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
)
NVIDIA_VGG16 = AssetFile(
    "vgg16.pt",
    url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt",
    sha256="b437eb095feaeb0b83eb3fa11200ebca4548ee39a07fb944a417ddc516cc07c3",  # as recorded by genforce's perceptual model
)

LPIPS_HOME = "https://github.com/richzhang/PerceptualSimilarity"
LPIPS_TERMS = "BSD-2-Clause (lpips heads); trunk: torchvision's ImageNet weights (BSD-3-Clause; ImageNet's terms of use apply)"
NVIDIA_TERMS = "NVIDIA Source Code License-NC (stylegan2-ada-pytorch): non-commercial research only"
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.pth$")


def check_torchvision_hashes(folder: Path) -> None:
    """torchvision's file names end in the first digits of their SHA-256 (``alexnet-owt-7be5be79.pth``):
    check them, as torch.hub does, since the full hash is not published."""
    for path in sorted(folder.glob("*.pth")):
        found = HASH_IN_NAME.search(path.name)
        if found and not sha256_of(path).startswith(found.group(1)):
            raise DownloadError(
                f"{path} does not have the SHA-256 its name promises ({found.group(1)}…)",
                hint="delete it and fetch again: it is not torchvision's file",
            )


def perceptual_assets() -> list[Asset]:
    """The assets `lswap weights list` shows for the perceptual networks."""
    check = "lswap_plugins.perceptual.assets:check_torchvision_hashes"
    return [
        Asset(
            name="lpips",
            description="LPIPS v0.1 AlexNet (PTI's tuning loss): lpips 0.1.4 heads + torchvision AlexNet",
            licence=LPIPS_TERMS,
            homepage=LPIPS_HOME,
            files=(LPIPS_WHEEL, ALEXNET),
            conversions=(Conversion(".", "lpips-alex.safetensors", "lpips-alex"),),
            check=check,
        ),
        Asset(
            name="lpips-vgg",
            description="LPIPS v0.1 VGG16: lpips 0.1.4 heads + torchvision VGG16",
            licence=LPIPS_TERMS,
            homepage=LPIPS_HOME,
            files=(LPIPS_WHEEL, VGG16_TORCHVISION),
            conversions=(Conversion(".", "lpips-vgg.safetensors", "lpips-vgg"),),
            check=check,
        ),
        Asset(
            name="vgg16",
            description="NVIDIA's VGG16 LPIPS features (vgg16.pt), the StyleGAN2-ADA / PTI projector's loss",
            licence=NVIDIA_TERMS,
            homepage="https://github.com/NVlabs/stylegan2-ada-pytorch",
            files=(NVIDIA_VGG16,),
            conversions=(Conversion("vgg16.pt", "vgg16.safetensors", "vgg16-nvidia"),),
        ),
    ]
