"""Perceptual networks: LPIPS v0.1 (AlexNet, VGG16) and NVIDIA's VGG16 projector features.

Loss and evaluation networks used by the inverters (PTI tunes with
LPIPS-AlexNet and projects with NVIDIA's VGG16 features) and by evaluation.
Written from the maths of the papers and checked against the ``lpips``
package; no torchvision needed. Official weights: ``lswap weights fetch
lpips`` (AlexNet), ``lpips-vgg``, ``vgg16`` (NVIDIA).

    from lswap_plugins.perceptual import LPIPS, load_lpips
    lpips = load_lpips("alex")                     # the fetched official weights
    tiny = LPIPS("alex", pretrained=False)         # seeded random weights, no download
    d = lpips(x0, x1)                              # (N, 1, 1, 1), images in [-1, 1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lpips import LPIPS, load_lpips
    from .nvidia_vgg import NvidiaVGG16, feature_distance, load_vgg16

__all__ = ["LPIPS", "NvidiaVGG16", "feature_distance", "load_lpips", "load_vgg16"]
_WHERE = {"LPIPS": "lpips", "load_lpips": "lpips", "NvidiaVGG16": "nvidia_vgg", "feature_distance": "nvidia_vgg", "load_vgg16": "nvidia_vgg"}


def __getattr__(name: str) -> Any:
    # Lazy: the plugin's hooks import this package, and `lswap --help` must not import torch.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
