"""lswap: face swapping in the latent space of pretrained generators.

Importing this package is cheap: plugins load, and torch is imported, only
when a component is first asked for. The public entry points:

- `hookimpl`: the marker plugin hook functions carry;
- `load_generator`, `load_inverter`, `load_embedder`, `load_shape_model`,
  `load_editor`, `load_face_analyzer`, `load_feature_network`: build a registered component from an export or a config;
- `swap_photos`: swap the face of one photo into another (align, invert, mix, render, paste back);
- `evaluate`: measure a mixer on generated pairs (identity retrieval, pose, expression, FID/KID);
- `list_components`, `get_plugin_manager`, `register_plugin`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .hookspecs import hookimpl
from .kinds import KINDS
from .version import __version__

_LAZY = {
    **{spec.loader: "registry" for spec in KINDS.values() if spec.loader is not None},
    "load_component": "registry",
    "list_components": "registry",
    "get_plugin_manager": "plugins",
    "register_plugin": "plugins",
    "swap_photos": "photo_swap",
    "evaluate": "evaluation",
}

__all__ = ["__version__", "hookimpl", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lswap_core' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
