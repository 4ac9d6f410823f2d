"""``lswap sweep``: one training run per point of a config grid, each evaluated, in one table.

It re-runs the paper's ablation (Table 1: latent space × λ; Figure 7: L_id and L_lp over
steps per λ). The folder holds ``runs/<point>/`` (ordinary training runs) and
``points/<point>.json`` (a point's evaluation); a point with its evaluation is done, a
run with a resume state continues, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import load_config
from .errors import ConfigError, InputError
from .files import atomic_write_text

# How Table 1 heads the paper's two axes; other keys are headed by their last part.
AXIS_LABELS = {"mixer.space": "Space", "loss.latent_penalty": "λ"}
DEFAULT_WINDOW = 250  # steps of Figure 7's window average


@dataclasses.dataclass(frozen=True)
class GridAxis:
    key: str
    values: tuple[str, ...]

    @property
    def label(self) -> str:
        return AXIS_LABELS.get(self.key, self.key.rsplit(".", 1)[-1])


@dataclasses.dataclass(frozen=True)
class Point:
    """One combination of grid values, as ``--set`` overrides."""

    assignments: tuple[tuple[str, str], ...]

    @property
    def overrides(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.assignments]

    @property
    def name(self) -> str:
        """A folder name: ``latent_penalty=0.01__space=w``."""
        text = "__".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in self.assignments)
        return re.sub(r"[^A-Za-z0-9_.=+-]", "-", text)

    @property
    def label(self) -> str:
        return ", ".join(f"{AXIS_LABELS.get(key, key.rsplit('.', 1)[-1])}={value}" for key, value in self.assignments)


def parse_grid(texts: Sequence[str]) -> list[GridAxis]:
    """``key=v1,v2,...`` per ``--grid``."""
    if not texts:
        raise InputError("no --grid given", hint="for example --grid loss.latent_penalty=0,0.01,1,100")
    axes = []
    for text in texts:
        key, sep, raw = text.partition("=")
        values = tuple(value.strip() for value in raw.split(",") if value.strip())
        if not sep or not key.strip() or not values:
            raise InputError(f"--grid {text!r} is not of the form key.path=v1,v2", hint="e.g. --grid mixer.space=w+,w,z")
        axes.append(GridAxis(key.strip(), values))
    keys = [axis.key for axis in axes]
    if len(set(keys)) != len(keys):
        raise InputError(f"--grid names a key twice: {', '.join(keys)}", hint="give each key once with all its values")
    return axes


def grid_points(axes: Sequence[GridAxis]) -> list[Point]:
    """Every combination, the first axis outermost (Table 1: give ``mixer.space`` first)."""
    return [Point(tuple(zip((axis.key for axis in axes), values, strict=True)))
            for values in itertools.product(*(axis.values for axis in axes))]


def point_configs(config: str | Path, sets: Sequence[str], points: Sequence[Point], steps: int | None) -> list[Any]:
    """Each point's training config, all checked before anything runs (a bad key or value fails here)."""
    extra = [f"train.steps={steps}"] if steps is not None else []
    configs = []
    for point in points:
        try:
            configs.append(load_config(config, [*sets, *extra, *point.overrides], kind="train"))
        except ConfigError as error:
            raise ConfigError(f"grid point {point.label}: {error.message}", hint=error.hint) from None
    return configs


@dataclasses.dataclass
class SweepFolder:
    root: Path

    def run(self, point: Point) -> Path:
        return self.root / "runs" / point.name

    def evaluation(self, point: Point) -> Path:
        return self.root / "points" / f"{point.name}.json"


def train_point(config: Any, run: Path) -> None:
    """Train a point's run to its steps: continue a run with a resume state, start one otherwise."""
    from .training import RunFolder, train

    folder = RunFolder(run)
    if folder.export.exists() and not folder.resume_states():
        return  # finished, and its states were not kept
    train(config, run, resume=bool(folder.resume_states()))


def loss_curves(run: Path, window_steps: int) -> dict[str, list[tuple[float, float]]]:
    """``id`` and ``lp`` of the training records over steps, averaged over a trailing window."""
    from .training import read_metrics

    records = [r for r in read_metrics(run / "metrics.jsonl") if r.get("split") == "train"]
    curves: dict[str, list[tuple[float, float]]] = {}
    if len(records) < 1:
        return curves
    spacing = max(1, records[1]["step"] - records[0]["step"]) if len(records) > 1 else 1
    window = max(1, window_steps // spacing)
    for key in ("id", "lp"):
        values = [(float(r["step"]), float(r[key])) for r in records if key in r]
        curves[key] = [(step, _mean([v for _, v in values[max(0, i - window + 1) : i + 1]])) for i, (step, _) in enumerate(values)]
    return curves


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def equilibrium(curves: dict[str, list[tuple[float, float]]], latent_penalty: float) -> dict[str, float]:
    """Final window-averaged L_id and L_lp, and ``λ·L_lp / L_id`` (about constant across λ at the paper's
    equilibrium, where L_lp ∝ L_id/λ)."""
    final_id = curves["id"][-1][1] if curves.get("id") else math.nan
    final_lp = curves["lp"][-1][1] if curves.get("lp") else math.nan
    ratio = latent_penalty * final_lp / final_id if final_id and latent_penalty > 0 else math.nan
    return {"L_id": final_id, "L_lp": final_lp, "lambda_lp_over_id": ratio}


def run_sweep(
    root: Path,
    points: Sequence[Point],
    configs: Sequence[Any],
    evaluate_point: Callable[[Point, Any, Path], dict[str, Any]],
    *,
    window_steps: int = DEFAULT_WINDOW,
    announce: Callable[[str], None] = lambda text: None,
) -> list[dict[str, Any]]:
    """Train and evaluate every point not done yet; the rows of the table, in grid order.

    ``evaluate_point(point, config, mixer_path)`` returns the point's summary metrics (and may keep
    more, such as sample images, for the report).
    """
    folder = SweepFolder(root)
    (root / "points").mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (point, config) in enumerate(zip(points, configs, strict=True), start=1):
        saved = folder.evaluation(point)
        run = folder.run(point)
        if saved.exists():
            announce(f"[{index}/{len(points)}] {point.label}: done already")
            summary = json.loads(saved.read_text())
        else:
            announce(f"[{index}/{len(points)}] {point.label}: training {config.train.steps} steps in {run}")
            train_point(config, run)
            announce(f"[{index}/{len(points)}] {point.label}: evaluating")
            summary = evaluate_point(point, config, run / "mixer.safetensors")
            summary.update(equilibrium(loss_curves(run, window_steps), float(config.loss.latent_penalty)))
            atomic_write_text(saved, json.dumps(_nan_to_none(summary), indent=1))
        rows.append({**dict(point.assignments), **{k: math.nan if v is None else v for k, v in summary.items()}})
    return rows


def _nan_to_none(summary: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a metric that could not be measured is stored as null."""
    return {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in summary.items()}


def figure7(root: Path, points: Sequence[Point], configs: Sequence[Any], path: Path, window_steps: int = DEFAULT_WINDOW) -> Path | None:
    """L_id (top) and L_lp (bottom) over steps per point, window-averaged, with a log–log inset of L_lp."""
    from PIL import Image

    from .files import atomic_path
    from .plots import chart_image

    folder = SweepFolder(root)
    # Pillow's built-in font has no Greek letters
    curves = {point.label.replace("λ", "lambda"): loss_curves(folder.run(point), window_steps) for point in points}
    identity = {label: c["id"] for label, c in curves.items() if c.get("id")}
    penalty = {label: c["lp"] for label, c in curves.items() if c.get("lp")}
    if not identity or not penalty:
        return None
    top = chart_image(identity, title=f"L_id by step ({window_steps}-step window)", size=(760, 320))
    bottom = chart_image(penalty, title=f"L_lp by step ({window_steps}-step window)", size=(760, 320))
    inset = chart_image(penalty, title="L_lp", x_label="step", log_x=True, log_y=True, size=(300, 170), legend=False)
    bottom.paste(inset, (74, 44))  # inside the plot's top-left corner, where L_lp (growing from ~0) rarely is
    canvas = Image.new("RGB", (760, 640), "white")
    canvas.paste(top, (0, 0))
    canvas.paste(bottom, (0, 320))
    with atomic_path(path) as temporary:
        canvas.save(temporary, format="PNG")
    return path
