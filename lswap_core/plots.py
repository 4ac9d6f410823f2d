"""Small PNG line charts (loss curves) drawn with Pillow, so no plotting library is needed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .files import atomic_path

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75)]


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: str | Path,
    *,
    title: str,
    x_label: str = "step",
    log_y: bool = False,
    size: tuple[int, int] = (720, 420),
) -> Path:
    """Draw one line per series of ``(x, y)`` points and save a PNG atomically.

    :param log_y: plot ``log10(y)``; non-positive values are dropped.
    """
    image = chart_image(series, title=title, x_label=x_label, log_y=log_y, size=size)
    with atomic_path(path) as temp:
        image.save(temp, format="PNG")
    return Path(path)


def chart_image(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str = "step",
    log_x: bool = False,
    log_y: bool = False,
    size: tuple[int, int] = (720, 420),
    legend: bool = True,
) -> Image.Image:
    """The chart of `line_chart` as an image; ``log_x``/``log_y`` plot ``log10`` of positive values."""
    width, height = size
    left, right, top, bottom = 70, 150 if legend else 20, 40, 50
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()

    def transform(value: float, log: bool) -> float | None:
        if not math.isfinite(value):
            return None
        if log:
            return math.log10(value) if value > 0 else None
        return value

    points = {
        name: [(tx, ty) for x, y in values if (tx := transform(x, log_x)) is not None and (ty := transform(y, log_y)) is not None]
        for name, values in series.items()
    }
    xs = [x for values in points.values() for x, _ in values]
    ys = [y for values in points.values() for _, y in values]
    if not xs:
        raise ValueError("line_chart needs at least one finite point")
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y_low, y_high = min(ys), max(ys)
    if y_high - y_low < 1e-12:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    plot_w, plot_h = width - left - right, height - top - bottom

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x_low) / (x_high - x_low) * plot_w, top + (1 - (y - y_low) / (y_high - y_low)) * plot_h)

    draw.rectangle([left, top, left + plot_w, top + plot_h], outline=(0, 0, 0))
    for tick in _nice_ticks(y_low, y_high):
        _, py = to_pixel(x_low, tick)
        draw.line([left - 4, py, left, py], fill=(0, 0, 0))
        draw.line([left, py, left + plot_w, py], fill=(230, 230, 230))
        label = f"{10**tick:.3g}" if log_y else f"{tick:.3g}"
        draw.text((left - 8 - draw.textlength(label, font=font), py - 5), label, fill=(0, 0, 0), font=font)
    for tick in _nice_ticks(x_low, x_high):
        px, _ = to_pixel(tick, y_low)
        draw.line([px, top + plot_h, px, top + plot_h + 4], fill=(0, 0, 0))
        label = f"{10**tick:.3g}" if log_x else f"{tick:g}"
        draw.text((px - draw.textlength(label, font=font) / 2, top + plot_h + 8), label, fill=(0, 0, 0), font=font)
    for index, (name, values) in enumerate(points.items()):
        colour = COLOURS[index % len(COLOURS)]
        pixels = [to_pixel(x, y) for x, y in values]
        if len(pixels) > 1:
            draw.line(pixels, fill=colour, width=2)
        elif pixels:
            x, y = pixels[0]
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        if legend:
            legend_y = top + 10 + 16 * index
            draw.line([width - right + 12, legend_y + 5, width - right + 32, legend_y + 5], fill=colour, width=2)
            draw.text((width - right + 38, legend_y), name, fill=(0, 0, 0), font=font)
    scale = " (log-log)" if log_x and log_y else " (log scale)" if log_y else ""
    draw.text((left, 12), title + scale, fill=(0, 0, 0), font=font)
    draw.text((left + plot_w / 2 - draw.textlength(x_label, font=font) / 2, height - 18), x_label, fill=(0, 0, 0), font=font)
    return image
