"""Hook implementations: what this plugin adds to lswap."""

from __future__ import annotations

from typing import Annotated

import typer

from lswap_core import hookimpl


@hookimpl
def lswap_register_generators(register):
    from .generator import ExampleGenerator  # imported only when generators are needed

    register(ExampleGenerator)


@hookimpl
def lswap_register_commands(app: typer.Typer) -> None:
    @app.command("example-info")
    def example_info(
        resolution: Annotated[int, typer.Option(help="Output resolution (a power of two, 8 or more).")] = 32,
    ) -> None:
        """Print the example generator's latent geometry."""
        from lswap_core import load_generator

        generator = load_generator("example-style", resolution=resolution)
        typer.echo(f"num_ws={generator.num_ws} w_dim={generator.w_dim} resolution={generator.resolution}")
        typer.echo(f"layer_resolutions={list(generator.layer_resolutions)}")
