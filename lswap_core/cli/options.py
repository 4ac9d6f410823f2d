"""Option types shared by lswap commands.

Component names (``--generator stylegan2``) are plain strings validated
against the registries when a command runs, so that building the CLI and
``--help`` never import a plugin's models.
"""

from __future__ import annotations

from typing import Annotated

import typer


def _complete_names(kind: str, incomplete: str) -> list[str]:
    from ..registry import get_registry

    return [name for name in get_registry(kind).names() if name.startswith(incomplete)]


def complete_generators(incomplete: str) -> list[str]:
    return _complete_names("generator", incomplete)


ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="YAML config file, or the name of a built-in config.", show_default=False),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override one config value (VALUE is read as YAML); repeatable.",
        show_default=False,
    ),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
GeneratorOption = Annotated[
    str,
    typer.Option("--generator", "-g", help="Registered generator name.", autocompletion=complete_generators),
]
DeviceOption = Annotated[
    str,
    typer.Option("--device", help="cpu, cuda, cuda:1...; auto picks cuda when available."),
]
