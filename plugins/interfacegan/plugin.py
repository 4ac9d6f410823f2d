"""Hook implementations of the ``interfacegan`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl


@hookimpl
def lswap_register_editors(register):
    from .editor import InterFaceGANEditor

    register(InterFaceGANEditor)


@hookimpl
def lswap_register_converters(register):
    from .convert import InterFaceGANConverter

    register(InterFaceGANConverter)
