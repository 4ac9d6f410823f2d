"""Hook implementations of the StyleNeRF plugin."""

from __future__ import annotations

from lswap_core import hookimpl
from lswap_core.hookspecs import Register


@hookimpl
def lswap_register_generators(register: Register) -> None:
    from .generator import StyleNeRFGenerator  # torch and the model load only when generators are needed

    register(StyleNeRFGenerator)


@hookimpl
def lswap_register_converters(register: Register) -> None:
    from .convert import StyleNeRFPickleConverter

    register(StyleNeRFPickleConverter)


@hookimpl
def lswap_register_assets(register: Register) -> None:
    from .assets import register_assets

    register_assets(register)
