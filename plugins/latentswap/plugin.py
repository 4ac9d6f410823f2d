"""Hooks of the built-in ``latentswap`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl


@hookimpl
def lswap_register_converters(register):
    from .converter import LatentSwapCheckpointConverter

    register(LatentSwapCheckpointConverter)
