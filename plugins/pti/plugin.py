"""Hook implementations of the ``pti`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl


@hookimpl
def lswap_register_inverters(register):
    from .inverter import PTIInverter

    register(PTIInverter)
