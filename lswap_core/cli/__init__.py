"""The ``lswap`` command line (typer + rich), one module per command group."""

from .app import app, main

__all__ = ["app", "main"]
