"""Hook implementations of the ``perceptual`` plugin: converters and assets of LPIPS and NVIDIA's VGG16."""

from __future__ import annotations

from lswap_core import hookimpl


@hookimpl
def lswap_register_converters(register):
    from .convert import LPIPSAlexConverter, LPIPSVGGConverter, NvidiaVGG16Converter

    register(LPIPSAlexConverter)
    register(LPIPSVGGConverter)
    register(NvidiaVGG16Converter)


@hookimpl
def lswap_register_assets(register):
    from .assets import perceptual_assets

    for asset in perceptual_assets():
        register(asset)
