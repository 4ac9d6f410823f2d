"""``lswap swap --views/--turntable``: a swap of generated faces seen from several cameras, with the
identity it keeps per view."""

from __future__ import annotations

import json
from pathlib import Path

from .output import stdout_console


def swap_views(
    mixer: Path,
    source_seed: int | None,
    target_seed: int | None,
    out: Path,
    generator: str | None,
    weights: Path | None,
    preset: str | None,
    init_seed: int | None,
    layers: str,
    strength: float,
    trunc: float | None,
    trunc_cutoff: int | None,
    views: str | None,
    turntable: int | None,
    embedder: str,
    embedder_weights: str,
    device: str,
    overwrite: bool,
    edit_options: tuple[list[str], str, str | None, str | None],
    precision: str = "fp32",
) -> None:
    """Source, target and swap from each view (a grid row per view), or around a turntable (a grid and a GIF);
    ``OUT.json`` holds the identity cosine of the swap to the source per view."""
    import torch

    from ..editing import parse_edit
    from ..errors import InputError
    from ..precision import autocast, check_precision
    from ..imaging import save_labelled_grid
    from ..latents import check_seed, z_from_seeds
    from ..layers import parse_groups
    from ..registry import load_embedder
    from ..swapping import swap_codes
    from ..views import parse_views, turntable as turntable_cameras
    from .common import check_output_file, load_swapper
    from .edit import edit_function

    if source_seed is None or target_seed is None:
        raise InputError("--views and --turntable swap generated faces", hint="give --source-seed N and --target-seed N")
    if views is not None and turntable is not None:
        raise InputError("--views and --turntable exclude each other", hint="drop one of them")
    check_seed(source_seed, "--source-seed")
    check_seed(target_seed, "--target-seed")
    if turntable is not None and turntable < 1:
        raise InputError(f"--turntable needs at least 1 frame, got {turntable}", hint="e.g. --turntable 24")
    groups = parse_groups(layers)
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"--strength must be between 0 and 1, got {strength}")
    check_output_file(out, overwrite=overwrite)
    check_output_file(out.with_suffix(".json"), overwrite=overwrite, suffix=".json")
    if turntable is not None:
        check_output_file(out.with_suffix(".gif"), overwrite=overwrite, suffix=".gif")
    for text in edit_options[0]:
        parse_edit(text)  # a malformed --edit fails before anything loads
    gen, mix, space = load_swapper(mixer, generator, weights, preset, init_seed, trunc, trunc_cutoff, device)
    edit = edit_function(*edit_options, gen)
    if views is not None:
        named = parse_views(gen, views)
    else:
        cameras = turntable_cameras(gen, turntable or 0)
        named = [(f"frame {index}", cameras[index : index + 1]) for index in range(cameras.shape[0])]
    identity = load_embedder(embedder, weights=embedder_weights, device=gen.device)
    z = z_from_seeds([source_seed, target_seed], gen.z_dim).to(gen.device)
    with torch.no_grad(), autocast(gen.device, check_precision(precision)):
        source, target = space.encode(gen, z[:1]), space.encode(gen, z[1:])
        swap_ws = swap_codes(gen, mix, space, source, target, groups=None if layers == "all" else groups, strength=strength)
        if edit is not None:
            swap_ws = edit(swap_ws)
        source_ws, target_ws = space.to_wplus(gen, source), space.to_wplus(gen, target)
        rows, report = [], []
        for name, camera in named:
            camera = camera.to(gen.device)
            images = [gen.synthesis(ws, camera=camera, noise_mode="const").clamp(-1, 1)[0] for ws in (source_ws, target_ws, swap_ws)]
            embedded = identity.embed(torch.stack(images).to(identity.device))
            report.append({"view": name, "camera": camera.cpu().reshape(-1).tolist(),
                           "identity_swap_to_source": float(embedded[2] @ embedded[0]),
                           "identity_swap_to_target": float(embedded[2] @ embedded[1])})
            rows.append(images)
    save_labelled_grid(rows, ["source", "target", "swap"], out)
    if turntable is not None:
        _write_gif(out.with_suffix(".gif"), rows)
    from ..files import atomic_write_text

    atomic_write_text(out.with_suffix(".json"), json.dumps(
        {"source_seed": source_seed, "target_seed": target_seed, "layers": layers, "strength": strength,
         "embedder": {"name": embedder, "weights": embedder_weights}, "views": report}, indent=1))
    console = stdout_console()
    console.print(f"wrote {out}" + (f" and {out.with_suffix('.gif')}" if turntable is not None else ""))
    cosines = ", ".join(f"{entry['view']} {entry['identity_swap_to_source']:.3f}" for entry in report)
    console.print(f"identity of the swap to the source per view: {cosines}")


def _write_gif(path: Path, rows: list) -> None:  # noqa: ANN001 - rows of image tensors
    """One frame per row: source | target | swap side by side, looping."""
    from PIL import Image

    from ..files import atomic_path
    from ..imaging import image_grid, to_uint8

    frames = [Image.fromarray(to_uint8(image_grid([row])[None])[0].numpy()) for row in rows]
    with atomic_path(path) as temp:
        frames[0].save(temp, format="GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
