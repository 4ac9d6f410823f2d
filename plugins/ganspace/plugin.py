"""Hook implementations of the ``ganspace`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl
from lswap_core.hookspecs import Register


@hookimpl
def lswap_register_editors(register: Register) -> None:
    from .editor import GanSpaceEditor  # torch loads only when editors are needed

    register(GanSpaceEditor)


@hookimpl
def lswap_register_converters(register: Register) -> None:
    from .convert import GanSpaceNpzConverter, GanSpacePTIConverter

    register(GanSpaceNpzConverter)
    register(GanSpacePTIConverter)
