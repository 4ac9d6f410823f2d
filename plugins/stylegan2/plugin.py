"""Hook implementations of the StyleGAN2 plugin."""

from __future__ import annotations

from lswap_core import hookimpl
from lswap_core.hookspecs import Register


@hookimpl
def lswap_register_generators(register: Register) -> None:
    from .generator import StyleGAN2Generator  # torch and the model load only when generators are needed

    register(StyleGAN2Generator)


@hookimpl
def lswap_register_converters(register: Register) -> None:
    from .convert_nvlabs import NVlabsPickleConverter
    from .convert_rosinality import RosinalityConverter

    register(NVlabsPickleConverter)
    register(RosinalityConverter)


@hookimpl
def lswap_register_assets(register: Register) -> None:
    from .assets import register_assets

    register_assets(register)
