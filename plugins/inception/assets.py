"""The official FID Inception weights: where they come from, their terms and hash."""

from __future__ import annotations

from pathlib import Path

from lswap_core.assets import Asset, AssetFile, Conversion
from lswap_core.errors import DownloadError
from lswap_core.files import sha256_of

PYTORCH_FID_WEIGHTS = AssetFile(
    "pt_inception-2015-12-05-6726825d.pth",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    sha256=None,  # pytorch-fid publishes only the first 8 hex digits (in the name): recorded on first fetch, prefix checked
)
HASH_PREFIX = "6726825d"  # torch.hub's naming convention: the name ends in the start of the file's SHA-256
TERMS = "Apache-2.0 (pytorch-fid); weights converted from TensorFlow's Inception-v3 inception-2015-12-05 (Apache-2.0)"


def check_hash_prefix(folder: Path) -> None:
    """Check the SHA-256 prefix the file's name promises, since the full hash is not published."""
    path = folder / PYTORCH_FID_WEIGHTS.name
    if path.is_file() and not sha256_of(path).startswith(HASH_PREFIX):
        raise DownloadError(
            f"{path} does not have the SHA-256 its name promises ({HASH_PREFIX}…)",
            hint="delete it and fetch again: it is not pytorch-fid's file",
        )


def inception_assets() -> list[Asset]:
    """The assets `lswap weights list` shows for FID/KID."""
    return [
        Asset(
            name="inception",
            description="FID Inception-v3 (TF inception-2015-12-05 as ported by pytorch-fid): pool3 features for FID/KID",
            licence=TERMS,
            homepage="https://github.com/mseitzer/pytorch-fid",
            files=(PYTORCH_FID_WEIGHTS,),
            conversions=(Conversion(PYTORCH_FID_WEIGHTS.name, "inception.safetensors", "fid-inception"),),
            check="lswap_plugins.inception.assets:check_hash_prefix",
        ),
    ]
