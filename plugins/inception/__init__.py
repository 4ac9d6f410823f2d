"""The FID Inception-v3: TensorFlow's ``inception-2015-12-05`` graph as pytorch-fid ports it, giving the
2048-d pool3 features that FID and KID compare.

Written from the architecture and checked against pytorch-fid 0.3.0; no torchvision needed. Official
weights: ``lswap weights fetch inception`` (pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``).

    from lswap_plugins.inception import FIDInception, load_fid_inception
    inception = load_fid_inception()               # the fetched official weights
    tiny = FIDInception()                          # seeded random weights, no download
    feats = inception.features(images)             # (N, 2048) float32, images (N, 3, H, W) in [-1, 1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .features import FIDInception, load_fid_inception
    from .network import FEATURES

__all__ = ["FEATURES", "FIDInception", "load_fid_inception"]
_WHERE = {"FEATURES": "network", "FIDInception": "features", "load_fid_inception": "features"}


def __getattr__(name: str) -> Any:
    # Lazy: the plugin's hooks import this package, and `lswap --help` must not import torch.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
