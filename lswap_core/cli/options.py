"""Option types shared by lswap commands.

Component names (``--generator stylegan2``) are plain strings validated
against the registries when a command runs, so that building the CLI and
``--help`` never import a plugin's models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError


def parse_seeds(text: str) -> list[int]:
    """``'0-3,7'`` -> ``[0, 1, 2, 3, 7]``; each seed once, in the order first given."""
    from ..latents import check_seed

    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            if dash and low:
                start, stop = int(low), int(high)
                if stop < start:
                    raise ValueError
                chosen = range(start, stop + 1)
            else:
                chosen = range(int(part), int(part) + 1)
        except ValueError:
            raise InputError(f"cannot read seeds {text!r}", hint="write them like 0-7 or 1,4,9-11") from None
        check_seed(chosen[0])
        check_seed(chosen[-1])
        seeds.extend(chosen)
    return list(dict.fromkeys(seeds))


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
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
GeneratorOption = Annotated[
    str,
    typer.Option("--generator", "-g", help="Registered generator name.", autocompletion=complete_generators),
]
DeviceOption = Annotated[
    str,
    typer.Option("--device", help="cpu, cuda, cuda:1...; auto picks cuda when available."),
]
OutDirOption = Annotated[Path, typer.Option("--out", "-o", help="Output folder.", show_default=False)]
WeightsOption = Annotated[
    Path | None,
    typer.Option("--weights", "-w", help="Generator export (.safetensors) or fetched asset name.", show_default=False),
]
PresetOption = Annotated[
    str | None, typer.Option("--preset", help="Named generator config (e.g. tiny) when no weights are given.")
]
InitSeedOption = Annotated[
    int | None,
    typer.Option("--init-seed", help="Seed of a --preset network's random initial weights (default 0).", show_default=False),
]
SwapGeneratorOption = Annotated[
    str | None,
    typer.Option(
        "--generator",
        "-g",
        help="Registered generator name (default: the one the mixer was trained with).",
        autocompletion=complete_generators,
        show_default=False,
    ),
]
SwapWeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        "-w",
        help="Generator export or asset name (default: rebuild the generator the mixer was trained with).",
        show_default=False,
    ),
]
SwapTruncOption = Annotated[
    float | None,
    typer.Option("--trunc", help="Truncation psi (default: the mixer's training truncation, else 1).", show_default=False),
]
SwapTruncCutoffOption = Annotated[
    int | None,
    typer.Option("--trunc-cutoff", help="Truncate only the first N W+ rows (default: as in the mixer's training).", show_default=False),
]
MixerOption = Annotated[Path, typer.Option("--mixer", "-m", help="Mixer export written by lswap train.", show_default=False)]
TruncOption = Annotated[float, typer.Option("--trunc", help="Truncation psi: 1 keeps codes, 0 gives the mean face.")]
TruncCutoffOption = Annotated[
    int | None, typer.Option("--trunc-cutoff", help="Truncate only the first N W+ rows.", show_default=False)
]
NoiseModeOption = Annotated[str, typer.Option("--noise-mode", help="Per-pixel noise: const, random or none.")]
