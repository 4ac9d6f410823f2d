"""Tables and the self-contained HTML report of an evaluation or a sweep.

The report inlines everything (PNG images as data URIs, histograms as SVG), so it opens
anywhere without a network or the files beside it.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from ..files import atomic_write_text
from ..imaging import image_grid, to_uint8
from .results import COLUMNS, EvalResult

HISTOGRAM_BINS = 20
HISTOGRAMS = (("cos_source", "identity cosine, swap to source"), ("cos_target", "identity cosine, swap to target"),
              ("expression_mse", "expression error"), ("pose_error_deg", "pose error (degrees)"))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def table_columns(rows: Sequence[Mapping[str, Any]], leading: Sequence[str]) -> list[tuple[str, str]]:
    """(key, heading) of the leading columns, then the metric columns the rows have."""
    present = {key for row in rows for key in row}
    return [(key, key) for key in leading] + [(key, heading) for key, heading, _ in COLUMNS if key in present]


def markdown_table(rows: Sequence[Mapping[str, Any]], leading: Sequence[str] = ("setting",)) -> str:
    columns = table_columns(rows, leading)
    lines = ["| " + " | ".join(heading for _, heading in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(key, "")) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_table(rows: Sequence[Mapping[str, Any]], leading: Sequence[str] = ("setting",)) -> str:
    keys = [key for key, _ in table_columns(rows, leading)] + (["kid_std"] if any("kid_std" in row for row in rows) else [])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in (row.get(key, "") for key in keys)])
    return buffer.getvalue()


def write_tables(folder: Path, rows: Sequence[Mapping[str, Any]], leading: Sequence[str] = ("setting",)) -> None:
    atomic_write_text(folder / "table.md", markdown_table(rows, leading))
    atomic_write_text(folder / "table.csv", csv_table(rows, leading))


def write_eval_outputs(folder: Path, result: EvalResult, *, html_report: bool = True) -> list[Path]:
    """``results.json`` (every per-pair value), ``table.md``, ``table.csv`` and, by default, ``report.html``."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "results.json", json.dumps(result.to_json(), indent=1, default=_json_default))
    write_tables(folder, result.table())
    written = [folder / "results.json", folder / "table.md", folder / "table.csv"]
    if html_report:
        atomic_write_text(folder / "report.html", eval_html(result))
        written.append(folder / "report.html")
    return written


def _json_default(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grid_image(rows: Sequence[Sequence[Tensor]]) -> Image.Image:
    """Rows of ``(3, H, W)`` images in ``[-1, 1]`` tiled into one image."""
    return Image.fromarray(to_uint8(image_grid([list(row) for row in rows])[None])[0].numpy())


def histogram_svg(values: Tensor, title: str, *, width: int = 320, height: int = 160) -> str:
    """An inline SVG histogram of the finite values."""
    finite = values[torch.isfinite(values)].double()
    if finite.numel() == 0:
        return f"<p>{html.escape(title)}: no values</p>"
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    counts = torch.histc(finite, bins=HISTOGRAM_BINS, min=low, max=high)
    tallest = float(counts.max())
    bar_w, plot_h = (width - 20) / HISTOGRAM_BINS, height - 45
    bars = "".join(
        f'<rect x="{10 + i * bar_w:.1f}" y="{25 + plot_h * (1 - c / tallest):.1f}" width="{bar_w - 1:.1f}" '
        f'height="{plot_h * c / tallest:.1f}" fill="#1f77b4"/>'
        for i, c in enumerate(counts.tolist())
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f'<text x="10" y="15" font-size="12">{html.escape(title)} (n={finite.numel()})</text>{bars}'
        f'<text x="10" y="{height - 5}" font-size="11">{low:.3g}</text>'
        f'<text x="{width - 10}" y="{height - 5}" font-size="11" text-anchor="end">{high:.3g}</text></svg>'
    )


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
         "img{max-width:100%}.histograms svg{margin:4px}dl{font-size:90%}")


def html_table(rows: Sequence[Mapping[str, Any]], leading: Sequence[str]) -> str:
    columns = table_columns(rows, leading)
    head = "".join(f"<th>{html.escape(heading)}</th>" for _, heading in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(row.get(key, '')))}</td>" for key, _ in columns) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def metric_glossary() -> str:
    items = "".join(f"<dt>{html.escape(heading)}</dt><dd>{html.escape(meaning)}</dd>" for _, heading, meaning in COLUMNS)
    return f"<dl>{items}</dl>"


def page(title: str, sections: Sequence[str]) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n")


def eval_html(result: EvalResult) -> str:
    info = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in result.info.items())
    sections = [f"<ul>{info}</ul>", "<h2>Metrics</h2>", html_table(result.table(), ("setting",)), metric_glossary()]
    for setting in result.settings:
        sections.append(f"<h2>{html.escape(setting.name)}</h2>")
        rows = result.samples.get(setting.name) or []
        if rows:
            sections.append(f'<p>source | target | swap</p><img alt="samples {html.escape(setting.name)}" '
                            f'src="{png_data_uri(grid_image(rows))}">')
        values = setting.values
        histograms = "".join(histogram_svg(getattr(values, name), title) for name, title in HISTOGRAMS)
        sections.append(f'<div class="histograms">{histograms}</div>')
    return page("lswap evaluation", sections)
