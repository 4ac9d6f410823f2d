"""``lswap edit``: move codes along a named direction and render them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError
from .options import DeviceOption, GeneratorOption, InitSeedOption, OverwriteOption, PresetOption, SetOption, WeightsOption
from .output import stdout_console

if TYPE_CHECKING:
    import torch

    from ..interfaces import Editor, Generator

EditorOption = Annotated[str, typer.Option("--editor", "-e", help="Registered editor: interfacegan, ganspace...")]
DirectionsOption = Annotated[
    str | None,
    typer.Option("--directions", help="The editor's directions: an export or asset name (default: its preset).", show_default=False),
]
EditorPresetOption = Annotated[
    str | None, typer.Option("--editor-preset", help="Named editor settings (e.g. tiny) when no --directions.", show_default=False)
]


def edit_command(
    codes: Annotated[
        Path,
        typer.Option("--codes", help="Codes to edit: PHOTO.inversion.safetensors (lswap invert), seedNNNN.safetensors "
                     "(generate --save-latents) or a .npy of W (N, D) or W+ (N, rows, D) codes.", show_default=False),
    ],
    direction: Annotated[str, typer.Option("--direction", "-d", help="Direction to move along (see the editor's directions).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", show_default=False)],
    editor: EditorOption = "interfacegan",
    directions: DirectionsOption = None,
    editor_preset: EditorPresetOption = None,
    sets: SetOption = None,
    strength: Annotated[float, typer.Option("--strength", "-s", help="How far to move, in the direction's units.")] = 1.0,
    steps: Annotated[
        str | None, typer.Option("--steps", help="A strip of strengths START:STOP:COUNT, e.g. -3:3:7.", show_default=False)
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option("--layers", help="Rows to edit: layer groups (coarse,middle) or rows (0-7); default: the editor's.", show_default=False),
    ] = None,
    generator: GeneratorOption = "stylegan2",
    weights: WeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Render codes moved along a direction: CODES_DIRECTION.png in --out (a strip over strengths with --steps).

    Codes from `lswap invert` carry their generator (rebuilt and checked) and,
    for PTI, its tuned tensors, which render the edit.
    """
    import torch

    from ..devices import resolve_device
    from ..editing import parse_rows, parse_steps
    from ..imaging import save_image, save_labelled_grid
    from .common import check_output_file

    strengths = parse_steps(steps) if steps is not None else [_finite(strength)]
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", hint="choose a folder")
    target = out / f"{_stem(codes)}_{direction}.png"
    if out.is_dir():
        check_output_file(target, overwrite=overwrite)
    torch_device = resolve_device(device)
    ws, model = _codes_and_generator(codes, generator, weights, preset, init_seed, torch_device)
    method = load_editor_from_options(editor, directions, editor_preset, sets or [], torch_device)
    method.check_generator(model)
    method.check_direction(direction)
    rows = parse_rows(layers, model)
    with torch.no_grad():
        images = [[model.synthesis(method.edit(ws[i : i + 1], direction, value, rows), noise_mode="const").clamp(-1, 1)[0]
                   for value in strengths] for i in range(ws.shape[0])]
    out.mkdir(parents=True, exist_ok=True)
    if len(strengths) == 1 and len(images) == 1:
        save_image(target, images[0][0])
    else:
        save_labelled_grid(images, [f"{value:+g}" for value in strengths], target)
    stdout_console().print(f"wrote {target}: {direction} at {', '.join(f'{value:+g}' for value in strengths)}")


def _finite(value: float) -> float:
    import math

    if not math.isfinite(value):
        raise InputError(f"--strength must be a finite number, got {value}")
    return value


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".inversion.safetensors", ".safetensors", ".npy"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _codes_and_generator(
    codes: Path, name: str, weights: Path | None, preset: str | None, init_seed: int | None, device: torch.device
) -> tuple[torch.Tensor, Generator]:
    """The W+ codes of ``codes`` and the generator that renders them (tuned, for a PTI inversion)."""
    import numpy as np
    import torch

    from ..checkpoints import read_export_metadata
    from .common import build_generator

    if not codes.is_file():
        raise InputError(f"codes {codes} do not exist" if not codes.exists() else f"--codes {codes} is a folder, not a file")
    if codes.suffix == ".npy":
        try:
            array = np.load(codes, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{codes} is not a NumPy array file lswap can read ({exc})") from None
        model = _generator_given(name, weights, preset, init_seed, device)
        return _as_wplus(torch.from_numpy(np.asarray(array, dtype=np.float32)), model), model
    kind = read_export_metadata(codes).get("lswap.kind")
    if kind == "inversion":
        from ..inversions import load_inversion

        saved = load_inversion(codes, device=device)
        model = saved.generator.rebuild(device) if weights is None and preset is None else build_generator(name, weights, preset, device, init_seed=init_seed)
        return saved.inversion.ws.to(device), saved.apply(model).requires_grad_(False)
    if kind == "latent":
        from ..checkpoints import read_export

        model = _generator_given(name, weights, preset, init_seed, device)
        return _as_wplus(read_export(codes).tensors["ws"], model).to(device), model
    raise InputError(f"{codes} holds no codes (a {kind or 'plain'} file)", hint="pass an .inversion.safetensors, a seed's .safetensors or a .npy")


def _generator_given(name: str, weights: Path | None, preset: str | None, init_seed: int | None, device: torch.device) -> Generator:
    from .common import build_generator

    if weights is None and preset is None:
        raise InputError("these codes do not say which generator they belong to", hint="pass --weights FILE or --preset NAME")
    return build_generator(name, weights, preset, device, init_seed=init_seed)


def _as_wplus(codes: torch.Tensor, model: Generator) -> torch.Tensor:
    if codes.ndim == 2:
        codes = codes[:, None].expand(-1, model.num_ws, -1)
    model.check_ws(codes)
    return codes.to(model.device)


def load_editor_from_options(name: str, directions: str | None, preset: str | None, sets: list[str], device: torch.device) -> Editor:
    from ..registry import load_editor
    from .common import component_options

    options = component_options(sets, "editor", "edit", "editor.mode=set")
    return load_editor(name, weights=directions, preset=preset, device=device, **options)


def edit_function(
    edits: list[str], editor: str, directions: str | None, preset: str | None, generator: Generator
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What ``lswap swap --edit NAME=S ...`` does to the swap's code, or ``None`` without edits."""
    from ..editing import apply_edits, parse_edit

    if not edits:
        return None
    parsed = [parse_edit(text) for text in edits]
    method = load_editor_from_options(editor, directions, preset, [], generator.device)
    method.check_generator(generator)
    for name, _ in parsed:
        method.check_direction(name)
    return lambda ws: apply_edits(method, ws, parsed)
