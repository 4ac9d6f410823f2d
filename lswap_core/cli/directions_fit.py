"""``lswap directions fit --codes w.npy --scores s.npy --out b.npy``: an InterFaceGAN boundary from codes and scores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .options import OverwriteOption
from .output import stdout_console

if TYPE_CHECKING:
    import numpy as np


def fit_command(
    codes: Annotated[
        Path,
        typer.Option(
            "--codes",
            help="W codes, .npy of shape (N, w_dim) (or (N, rows, w_dim) with equal rows).",
            show_default=False,
        ),
    ],
    scores: Annotated[
        Path,
        typer.Option(
            "--scores", help="Attribute scores, .npy of shape (N,) or (N, 1); higher = more.", show_default=False
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The boundary .npy to write (official format: (1, D) float32 unit vector).",
            show_default=False,
        ),
    ],
    ratio: Annotated[
        float,
        typer.Option(
            "--ratio",
            help="Samples per class: a fraction of N (official 0.02 = top and bottom 2 %), or a count above 1.",
        ),
    ] = 0.02,
    split: Annotated[
        float, typer.Option("--split", help="Fraction of each class the SVM trains on; the rest validates.")
    ] = 0.7,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the shuffles that split each class.")] = 0,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Attribute name for the JSON; default: from the --out file name.", show_default=False
        ),
    ] = None,
    invalid_value: Annotated[
        float | None,
        typer.Option(
            "--invalid-value", help="Drop samples with this score (NaN scores are always dropped).", show_default=False
        ),
    ] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Fit an InterFaceGAN boundary (linear SVM, C = 1) from codes and scores you already have."""
    from ..latents import check_seed
    from ..registry import get_registry
    from .common import check_output_file

    # The fitting belongs to the interfacegan plugin; the host reaches it through the registry.
    method = get_registry("editor").get("interfacegan").cls
    boundary_name, metadata_path = method.boundary_name, method.metadata_path
    train_boundary, save_boundary = method.train_boundary, method.save_boundary
    check_output_file(out, overwrite=overwrite, suffix=".npy")
    check_output_file(metadata_path(out), overwrite=overwrite, suffix=".json")
    check_seed(seed)
    code_array, score_array = _read_array(codes, "codes"), _read_array(scores, "scores")
    code_array = _w_codes(code_array, codes)
    fit = train_boundary(code_array, score_array, ratio=ratio, split=split, invalid_value=invalid_value, rng=seed)
    attribute = name or boundary_name(out)
    extra = {"codes": codes.name, "scores": scores.name, "invalid_value": invalid_value}
    save_boundary(fit, out, name=attribute, ratio=ratio, split=split, seed=seed, extra=extra)
    stdout_console().print(
        f"wrote {out}: {attribute!r} boundary, {fit.boundary.shape[1]} wide, from {fit.samples} samples "
        f"({fit.chosen} per class); validation accuracy {fit.validation_accuracy:.4f}"
    )


def _read_array(path: Path, what: str) -> np.ndarray:
    import numpy as np

    from ..errors import InputError

    if not path.is_file():
        raise InputError(f"{what} file {path} does not exist", hint="check the path")
    try:
        return np.load(path, allow_pickle=False)  # never unpickle: a .npy of objects is refused
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InputError(
            f"{path} is not a plain .npy array ({reason})", hint=f"save the {what} with numpy.save"
        ) from None


def _w_codes(array: np.ndarray, path: Path) -> np.ndarray:
    """(N, D) codes; W+ codes whose rows are all equal (mapped, untruncated W) give their one row."""
    from ..errors import InputError

    if array.ndim == 3 and array.shape[1] >= 1 and (array == array[:, :1]).all():
        return array[:, 0]
    if array.ndim == 3:
        raise InputError(
            f"{path} holds W+ codes {array.shape} with rows that differ; boundaries are fitted in W",
            hint="save one W row per sample, (N, w_dim)",
        )
    return array
