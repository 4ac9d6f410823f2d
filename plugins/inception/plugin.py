"""Hook implementations of the ``inception`` plugin: the FID Inception-v3 feature network, its converter and asset."""

from __future__ import annotations

from lswap_core import hookimpl


@hookimpl
def lswap_register_feature_networks(register):
    from .features import FIDInception

    register(FIDInception)


@hookimpl
def lswap_register_converters(register):
    from .convert import FIDInceptionConverter

    register(FIDInceptionConverter)


@hookimpl
def lswap_register_assets(register):
    from .assets import inception_assets

    for asset in inception_assets():
        register(asset)
