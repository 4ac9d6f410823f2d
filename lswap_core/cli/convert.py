"""``lswap convert``: official checkpoints to safetensors exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .options import OverwriteOption
from .output import stdout_console


def convert_command(
    source: Annotated[Path, typer.Argument(help="Official checkpoint: .pkl, .pt, .ckpt, weight manifest, or a model folder.", show_default=False)],
    output: Annotated[Path, typer.Argument(help="The .safetensors export to write.", show_default=False)],
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="Converter name; detected from the file by default.")
    ] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Import an official checkpoint; pickles are read without executing their code."""
    from ..checkpoints import read_export_metadata
    from ..convert import convert
    from .common import check_output_file

    check_output_file(output, overwrite=overwrite, suffix=".safetensors")
    path = convert(source, output, format=format)
    metadata = read_export_metadata(path)
    provenance = json.loads(metadata.get("lswap.provenance", "{}"))
    stdout_console().print(
        f"wrote {path}: {metadata.get('lswap.kind')} {metadata.get('lswap.name')!r} "
        f"(converter {provenance.get('converter')})"
    )
