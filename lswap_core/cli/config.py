"""``lswap config``: resolve and print configs."""

from __future__ import annotations

from typing import Annotated

import typer

from ..config import dump_config, load_config
from .options import SetOption

app = typer.Typer(help="Resolve and print configs.", no_args_is_help=True)


@app.command("show")
def show(
    file: Annotated[str, typer.Argument(help="YAML config file; its 'kind' key names the schema.", show_default=False)],
    overrides: SetOption = None,
) -> None:
    """Print a config with every default filled in and every override applied."""
    config = load_config(file, overrides or [])
    typer.echo(dump_config(config), nl=False)
