"""``lswap directions fit``: an InterFaceGAN boundary from codes and scores, given or made here.

Either ``--codes w.npy --scores s.npy`` (codes and scores you have), or a
generator (``--weights``/``--preset``) with ``--attribute`` and
``--samples``: codes are sampled, rendered and scored by the face analyzer
(its attributes, or ``yaw``/``pitch`` from the landmarks), in chunks saved
beside ``--out`` so a stopped run goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .options import DeviceOption, GeneratorOption, InitSeedOption, OverwriteOption, PresetOption, WeightsOption
from .output import stdout_console

if TYPE_CHECKING:
    import numpy as np


def fit_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The boundary .npy to write (official format: (1, D) float32 unit vector).",
            show_default=False,
        ),
    ],
    codes: Annotated[
        Path | None,
        typer.Option(
            "--codes",
            help="W codes, .npy of shape (N, w_dim) (or (N, rows, w_dim) with equal rows).",
            show_default=False,
        ),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            "--scores", help="Attribute scores, .npy of shape (N,) or (N, 1); higher = more.", show_default=False
        ),
    ] = None,
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
    generator: GeneratorOption = "stylegan2",
    weights: WeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    attribute: Annotated[
        str | None,
        typer.Option("--attribute", help="What to score generated faces by: age, gender, smile, happy... or yaw, pitch.", show_default=False),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", help="Generated faces to score (the official runs use 500,000).")] = 20_000,
    chunk: Annotated[int, typer.Option("--chunk", help="Faces rendered and scored at a time (and saved, for resuming).")] = 250,
    analyzer: Annotated[str, typer.Option("--analyzer", help="Face analyzer that scores the faces.")] = "faceapi",
    analyzer_weights: Annotated[str, typer.Option("--analyzer-weights", help="Its export or asset name.")] = "faceapi",
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Fit an InterFaceGAN boundary (linear SVM, C = 1) from codes and scores, given or made by scoring generated faces."""
    from ..errors import InputError
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
    if codes is not None and scores is not None:
        code_array, score_array = _w_codes(_read_array(codes, "codes"), codes), _read_array(scores, "scores")
        extra: dict[str, object] = {"codes": codes.name, "scores": scores.name, "invalid_value": invalid_value}
    elif codes is not None or scores is not None:
        raise InputError("--codes and --scores go together", hint="give both, or a generator with --attribute to make them")
    else:
        code_array, score_array, extra = _generated(
            out, generator, weights, preset, init_seed, attribute, samples, chunk, seed, analyzer, analyzer_weights, device, overwrite
        )
    fit = train_boundary(code_array, score_array, ratio=ratio, split=split, invalid_value=invalid_value, rng=seed)
    attribute = name or attribute or boundary_name(out)
    save_boundary(fit, out, name=attribute, ratio=ratio, split=split, seed=seed, extra=extra)
    if codes is None:
        from ..direction_samples import partial_path

        partial_path(out).unlink(missing_ok=True)  # finished: the samples are in the JSON's record
    stdout_console().print(
        f"wrote {out}: {attribute!r} boundary, {fit.boundary.shape[1]} wide, from {fit.samples} samples "
        f"({fit.chosen} per class); validation accuracy {fit.validation_accuracy:.4f}"
    )


def _generated(
    out: Path, name: str, weights: Path | None, preset: str | None, init_seed: int | None, attribute: str | None,
    samples: int, chunk: int, seed: int, analyzer: str, analyzer_weights: str, device: str, overwrite: bool,
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Codes of ``samples`` generated faces and their scores, resuming a partial run."""
    import numpy as np

    from ..checkpoints import tensors_sha256
    from ..devices import resolve_device
    from ..direction_samples import partial_path, sample_and_score
    from ..errors import InputError
    from ..face_attributes import attribute_choices
    from ..progress import progress_bar
    from ..registry import load_face_analyzer
    from .common import build_generator

    if weights is None and preset is None:
        raise InputError("give --codes and --scores, or a generator (--weights or --preset) to sample", hint="see lswap directions fit --help")
    if attribute is None:
        raise InputError("--attribute names what to score the generated faces by", hint="e.g. --attribute smile")
    if samples < 2 or chunk < 1:
        raise InputError(f"--samples must be at least 2 and --chunk at least 1, got {samples} and {chunk}")
    target = resolve_device(device)
    model = build_generator(name, weights, preset, target, init_seed=init_seed)
    scorer = load_face_analyzer(analyzer, weights=analyzer_weights, device=target)
    if attribute not in attribute_choices(scorer):
        raise InputError(f"face analyzer {analyzer!r} cannot score {attribute!r}", hint=f"choose one of: {', '.join(attribute_choices(scorer))}")
    plan = {"generator": tensors_sha256(model.state_dict()), "attribute": attribute, "samples": samples, "seed": seed,
            "analyzer": analyzer, "analyzer_weights": analyzer_weights}
    partial = partial_path(out)
    if overwrite:
        partial.unlink(missing_ok=True)
    with progress_bar(samples, f"scoring {attribute}") as bar:
        codes, scores = sample_and_score(model, scorer, attribute, samples=samples, seed=seed, chunk=chunk, partial=partial,
                                         plan=plan, progress=bar.advance)
    found = int(np.isfinite(scores).sum())
    return codes, scores, {**plan, "generator_name": name, "scored": found}


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
