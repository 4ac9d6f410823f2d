"""``lswap sweep``: train and evaluate one run per grid point; Table 1 and Figure 7 of the paper."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from .eval import (
    AnalyzerOption,
    AnalyzerWeightsOption,
    EmbedderWeightsOption,
    FidOption,
    FidWeightsOption,
    ShapeModelOption,
    ShapeWeightsOption,
    build_judges,
)
from .options import DeviceOption, SetOption
from .output import stderr_console, stdout_console


def sweep_command(
    config: Annotated[str, typer.Option("--config", "-c", help="Training config: a YAML file or a built-in name (tiny, ffhq1024).")],
    grid: Annotated[list[str], typer.Option("--grid", help="key.path=v1,v2,... ; repeat for more axes (the first is outermost).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Sweep folder: runs/, points/, table.md/csv, figure7.png, report.html.")],
    steps: Annotated[int | None, typer.Option("--steps", help="Training steps per point (default: the config's).", show_default=False)] = None,
    sets: SetOption = None,
    pairs: Annotated[int, typer.Option("--pairs", help="Generated pairs per evaluation.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the evaluation pairs (the same for every point).")] = 0,
    embedder: Annotated[str, typer.Option("--embedder", help="Identity embedder that judges, or trained: the config's own (for configs without pretrained weights).")] = "faceapi",
    embedder_weights: EmbedderWeightsOption = None,
    analyzer: AnalyzerOption = "faceapi",
    analyzer_weights: AnalyzerWeightsOption = None,
    shape_model: ShapeModelOption = None,
    shape_model_weights: ShapeWeightsOption = None,
    fid_features: FidOption = "inception",
    fid_weights: FidWeightsOption = None,
    window: Annotated[int, typer.Option("--window", help="Steps of Figure 7's moving average (the paper's 250).")] = 250,
    device: DeviceOption = "auto",
) -> None:
    """Train one mixer per grid point, evaluate each, and tabulate them as the paper's Table 1.

    Finished points are skipped and an interrupted run resumes, so running the same command
    again continues the sweep.
    """
    import dataclasses
    import json

    from .. import evaluation, sweep
    from ..devices import resolve_device
    from ..evaluation import EmbedderFeatures, evaluate
    from ..evaluation.report import markdown_table, write_tables
    from ..files import atomic_write_text
    from ..mixer import load_mixer
    from ..registry import load_embedder
    from ..swapping import generator_for, latent_space_for
    from ..training.trainer import build_component

    if steps is not None and steps < 1:
        raise InputError(f"--steps must be at least 1, got {steps}")
    if window < 1:
        raise InputError(f"--window must be at least 1, got {window}")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", hint="choose a folder")
    axes = sweep.parse_grid(grid)
    points = sweep.grid_points(axes)
    configs = sweep.point_configs(config, sets or [], points, steps)
    evaluation.runner.check_pair_count(pairs, fid=fid_features != "none")
    torch_device = resolve_device(device)
    shared = None if embedder == "trained" else build_judges(
        out, torch_device, embedder, embedder_weights, analyzer, analyzer_weights, shape_model, shape_model_weights,
        fid_features, fid_weights)
    folder = sweep.SweepFolder(out)

    def judges_for(point_config: Any) -> Any:
        """The shared judges, or (``--embedder trained``) the point's own embedder beside networks loaded once."""
        nonlocal shared
        if embedder != "trained":
            return shared
        own = build_component(load_embedder, point_config.embedder, point_config.train.seed, torch_device)
        if shared is None:
            shared = build_judges(out, torch_device, point_config.embedder.name, None, analyzer, analyzer_weights,
                                  shape_model, shape_model_weights, fid_features, fid_weights, identity=own)
        fid_network = EmbedderFeatures(own) if fid_features == "identity" else shared.fid_network
        return dataclasses.replace(shared, embedder=own, fid_network=fid_network)

    def evaluate_point(point: Any, point_config: Any, mixer_path: Path) -> dict[str, Any]:
        mixer = load_mixer(mixer_path, device=torch_device)
        generator = generator_for(mixer, device=torch_device)
        result = evaluate(mixer, generator, judges_for(point_config), pairs=pairs, seed=seed, space=latent_space_for(mixer))
        _save_samples(folder.evaluation(point).with_suffix(".png"), result.samples["all"])
        per_pair = folder.evaluation(point).with_suffix(".pairs.json")
        atomic_write_text(per_pair, json.dumps({k: [None if v != v else v for v in values]  # NaN -> null
                                             for k, values in result.to_json()["pairs"]["all"].items()}))
        return result.table()[0] | {"setting": "all"}

    rows = sweep.run_sweep(out, points, configs, evaluate_point, window_steps=window,
                           announce=lambda text: stderr_console().print(text, markup=False, highlight=False))
    leading = [axis.key for axis in axes]
    labelled = [{**{axis.label: row[axis.key] for axis in axes}, **{k: v for k, v in row.items() if k not in leading}} for row in rows]
    labels = [axis.label for axis in axes]
    write_tables(out, labelled, labels)
    figure = sweep.figure7(out, points, configs, out / "figure7.png", window)
    atomic_write_text(out / "report.html", _sweep_html(labelled, labels, points, folder, figure))
    console = stdout_console()
    console.print(markdown_table(labelled, labels), markup=False, highlight=False)
    console.print(f"wrote {out / 'table.md'}, {out / 'table.csv'}, {out / 'report.html'}" + (f", {figure}" if figure else ""),
                  markup=False, highlight=False)


def _save_samples(path: Path, rows: list[Any]) -> None:
    from ..imaging import save_labelled_grid

    if rows:
        save_labelled_grid([list(row) for row in rows], ["source", "target", "swap"], path)


def _sweep_html(rows: list[dict[str, Any]], labels: list[str], points: list[Any], folder: Any, figure: Path | None) -> str:
    import html
    import json
    import math

    import torch
    from PIL import Image

    from ..evaluation.report import HISTOGRAMS, histogram_svg, html_table, metric_glossary, page, png_data_uri

    sections = ["<h2>Table 1</h2>", html_table(rows, labels), metric_glossary(),
                "<p>L_id, L_lp: final window-averaged training losses; at the paper's equilibrium L_lp ∝ L_id/λ, "
                "so λ·L_lp/L_id stays about constant across λ.</p>"]
    if figure is not None:
        sections.append(f'<h2>Figure 7</h2><img alt="figure 7" src="{png_data_uri(Image.open(figure))}">')
    for point in points:
        sections.append(f"<h3>{html.escape(point.label)}</h3>")
        grid = folder.evaluation(point).with_suffix(".png")
        if grid.exists():
            sections.append(f'<img alt="samples {html.escape(point.label)}" src="{png_data_uri(Image.open(grid))}">')
        pairs = folder.evaluation(point).with_suffix(".pairs.json")
        if pairs.exists():
            values = json.loads(pairs.read_text())
            histograms = "".join(
                histogram_svg(torch.tensor([math.nan if v is None else v for v in values[name]], dtype=torch.float64), title)
                for name, title in HISTOGRAMS if name in values
            )
            sections.append(f'<div class="histograms">{histograms}</div>')
    return page("lswap sweep", sections)
