"""``lswap eval``: measure swaps of generated pairs (a mixer) or of a folder of photo swaps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError
from .options import DeviceOption, InitSeedOption, OverwriteOption, PresetOption, SwapGeneratorOption, SwapWeightsOption
from .output import stdout_console

if TYPE_CHECKING:
    import torch

    from ..evaluation import EvalResult, Judges
    from ..interfaces import IdentityEmbedder

FORMATS = ("html", "md", "json")
REPORT_FILES = ("results.json", "table.md", "table.csv", "report.html")

EmbedderOption = Annotated[str, typer.Option("--embedder", help="Identity embedder that judges (best not the one trained with).")]
EmbedderWeightsOption = Annotated[str | None, typer.Option("--embedder-weights", help="Its export or asset name (default: faceapi's asset for faceapi).", show_default=False)]
AnalyzerOption = Annotated[str, typer.Option("--analyzer", help="Face analyzer for pose (landmarks) and expression.")]
AnalyzerWeightsOption = Annotated[str | None, typer.Option("--analyzer-weights", help="Its export or asset name.", show_default=False)]
ShapeModelOption = Annotated[str | None, typer.Option("--shape-model", help="A 3DMM shape model (deep3dface) for pose and expression instead.", show_default=False)]
ShapeWeightsOption = Annotated[str | None, typer.Option("--shape-model-weights", help="Its export or asset name.", show_default=False)]
FidOption = Annotated[str, typer.Option("--fid-features", help="Features of FID/KID: inception, identity (the --embedder's), an embedder or feature network name, or none.")]
FidWeightsOption = Annotated[str | None, typer.Option("--fid-weights", help="Weights of the --fid-features network.", show_default=False)]
FormatOption = Annotated[str, typer.Option("--format", help="html: every file and report.html; md or json: the table alone, printed.")]


def eval_command(
    mixer: Annotated[Path | None, typer.Option("--mixer", "-m", help="Mixer export to evaluate on generated pairs.", show_default=False)] = None,
    swaps: Annotated[Path | None, typer.Option("--swaps", help="Or: a folder of photo swaps written by lswap swap.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report, tables and the feature cache.")] = Path("eval"),
    pairs: Annotated[int, typer.Option("--pairs", help="Generated pairs to swap and measure.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the pairs' noise: the same pairs for every mixer.")] = 0,
    layers: Annotated[str, typer.Option("--layers", help="Settings to measure, comma-separated: all, a group (coarse, middle, fine1, fine2) or groups joined by +.")] = "all",
    strength: Annotated[float, typer.Option("--strength", help="0 keeps the target, 1 takes the full swap.")] = 1.0,
    generator: SwapGeneratorOption = None,
    weights: SwapWeightsOption = None,
    preset: PresetOption = None,
    init_seed: InitSeedOption = None,
    embedder: EmbedderOption = "faceapi",
    embedder_weights: EmbedderWeightsOption = None,
    analyzer: AnalyzerOption = "faceapi",
    analyzer_weights: AnalyzerWeightsOption = None,
    shape_model: ShapeModelOption = None,
    shape_model_weights: ShapeWeightsOption = None,
    fid_features: FidOption = "inception",
    fid_weights: FidWeightsOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Pairs rendered and judged at once.")] = 8,
    output_format: FormatOption = "html",
    device: DeviceOption = "auto",
    overwrite: OverwriteOption = False,
) -> None:
    """Identity retrieval, pose, expression, FID and KID of swaps (the paper's Table 1 metrics).

    With --mixer: PAIRS generated pairs from SEED, swapped per --layers setting. With --swaps:
    the pairs of a folder of photo swaps, read from their reports. Writes report.html,
    table.md/csv and results.json (every per-pair value) in --out; features are cached
    there, so running again is quick.
    """
    import lswap_core.evaluation as evaluation

    from ..devices import resolve_device

    if (mixer is None) == (swaps is None):
        raise InputError("give --mixer (generated pairs) or --swaps (a folder of photo swaps)", hint="one of the two")
    if output_format not in FORMATS:
        raise InputError(f"--format {output_format!r} is not one of {', '.join(FORMATS)}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    settings = evaluation.parse_settings(layers)
    _check_outputs(out, overwrite, output_format)
    torch_device = resolve_device(device)
    if mixer is not None:
        from .common import load_swapper

        evaluation.runner.check_pair_count(pairs, fid=fid_features != "none")
        gen, mix, space = load_swapper(mixer, generator, weights, preset, init_seed, None, None, device)
        judges = build_judges(out, torch_device, embedder, embedder_weights, analyzer, analyzer_weights, shape_model,
                              shape_model_weights, fid_features, fid_weights)
        result = evaluation.evaluate(mix, gen, judges, pairs=pairs, seed=seed, settings=settings, strength=strength,
                                     space=space, batch_size=batch_size)
        result.info["mixer"] = str(mixer)
    else:
        assert swaps is not None
        evaluation.runner.read_swap_reports(swaps)  # a folder without reports fails before any network loads
        judges = build_judges(out, torch_device, embedder, embedder_weights, analyzer, analyzer_weights, shape_model,
                              shape_model_weights, fid_features, fid_weights)
        result = evaluation.evaluate_swaps(swaps, judges)
    emit(result, out, output_format)


def _check_outputs(out: Path, overwrite: bool, output_format: str) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", hint="choose a folder")
    if output_format != "html" or overwrite:
        return
    existing = [name for name in REPORT_FILES if (out / name).exists()]
    if existing:
        raise InputError(f"{out} already holds an evaluation ({', '.join(existing)})",
                         hint="pass --overwrite to replace it (its feature cache is reused), or choose another --out")


def build_judges(
    out: Path | None, device: torch.device, embedder: str, embedder_weights: str | None, analyzer: str | None,
    analyzer_weights: str | None, shape_model: str | None, shape_model_weights: str | None, fid_features: str,
    fid_weights: str | None, *, identity: IdentityEmbedder | None = None,
) -> Judges:
    """The judging networks named on the command line (``identity``: an embedder already built)."""
    from ..evaluation import EmbedderFeatures, Judges
    from ..evaluation.cache import FeatureCache
    from ..registry import get_registry, load_embedder, load_face_analyzer, load_feature_network, load_shape_model

    def default_weights(name: str, given: str | None) -> str | None:
        return given if given is not None else ("faceapi" if name == "faceapi" else None)

    judge = identity or load_embedder(embedder, weights=default_weights(embedder, embedder_weights), device=device)
    shape = load_shape_model(shape_model, weights=shape_model_weights, device=device) if shape_model else None
    face = None
    if shape is None and analyzer is not None:
        face = load_face_analyzer(analyzer, weights=default_weights(analyzer, analyzer_weights), device=device)
    fid_network = None
    if fid_features == "identity":
        fid_network = EmbedderFeatures(judge)
    elif fid_features != "none":
        if fid_features in get_registry("feature_network").names():
            fid_network = load_feature_network(fid_features, weights=fid_weights, device=device)
        else:
            fid_network = EmbedderFeatures(load_embedder(fid_features, weights=default_weights(fid_features, fid_weights), device=device))
    return Judges(judge.requires_grad_(False), face, shape, fid_network, fid_features,
                  FeatureCache(out / "cache" if out is not None else None))


def emit(result: EvalResult, out: Path, output_format: str) -> None:
    """Write the files, and print the table (``md``/``json``: the table alone)."""
    import json

    from ..evaluation.report import markdown_table, write_eval_outputs

    if output_format == "json":
        typer.echo(json.dumps([{k: None if v != v else v for k, v in row.items()} for row in result.table()]))  # NaN -> null
        return
    if output_format == "md":
        typer.echo(markdown_table(result.table()), nl=False)
        return
    written = write_eval_outputs(out, result)
    console = stdout_console()
    console.print(markdown_table(result.table()), markup=False, highlight=False)
    console.print(f"wrote {', '.join(str(path) for path in written)}", markup=False, highlight=False)
