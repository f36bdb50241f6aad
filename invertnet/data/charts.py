"""Line charts drawn with Pillow (no plotting library): learning curves of runs, a panel per quantity, a line per run.

A panel's y axis is logarithmic when every value in it is positive (losses span decades), linear
otherwise; ticks are round numbers (1, 2 or 5 times a power of ten), on a log axis the powers of ten.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .captions import LINE, font, wrap

PANEL = (780, 320)
MARGIN = (72, 30, 190, 40)
"""Left, top, right, bottom margins of a panel's plot area, in pixels; the legend is in the right one."""
COLOURS = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
    (188, 189, 34), (23, 190, 207),
)
"""Matplotlib's ten ``tab10`` colours; an eleventh line repeats the first."""
Series = Sequence[tuple[float, float]]


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) for about ``count`` ticks between ``low`` and ``high``."""
    if not high > low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda candidate: abs(math.log(candidate / raw)))
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((high - first) / step + 1e-9) + 1)]


def panel(title: str, lines: dict[str, Series], x_label: str) -> Image.Image:
    """One panel: ``lines`` (name -> (x, y) points, finite ones drawn) on shared axes, with a legend and ``title``."""
    width, height = PANEL
    left, top, right, bottom = MARGIN
    canvas = Image.new("RGB", (width, height), "white")
    draw, face = ImageDraw.Draw(canvas), font()
    points = [(x, y) for series in lines.values() for x, y in series if math.isfinite(x) and math.isfinite(y)]
    log = bool(points) and all(y > 0 for _, y in points)
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)  # noqa: E731
    xs, ys = [x for x, _ in points] or [0.0, 1.0], [scale(y) for _, y in points] or [0.0, 1.0]
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y_low, y_high = min(ys), max(ys)
    if y_high - y_low < 1e-12:
        y_low, y_high = y_low - 1, y_high + 1
    x_of = lambda x: left + (width - left - right) * (x - x_low) / (x_high - x_low)  # noqa: E731
    y_of = lambda y: top + (height - top - bottom) * (1 - (y - y_low) / (y_high - y_low))  # noqa: E731
    draw.rectangle((left, top, width - right, height - bottom), outline="black")
    if log:  # round values placed on the log axis: powers of ten over many decades, 1-2-5 steps over a few, finer within one
        decades = range(math.floor(y_low), math.ceil(y_high) + 1)
        steps = (1,) if y_high - y_low > 4 else (1, 2, 5)
        y_ticks = [math.log10(m * 10.0**k) for k in decades for m in steps if y_low <= math.log10(m * 10.0**k) <= y_high]
        if len(y_ticks) < 3:
            y_ticks = [math.log10(v) for v in ticks(10**y_low, 10**y_high) if v > 0]
    else:
        y_ticks = ticks(y_low, y_high)
    for value in y_ticks:
        draw.text((left - 6, y_of(value)), f"{10 ** value:.3g}" if log else f"{value:.4g}", fill="black", font=face, anchor="rm")
        draw.line((left - 3, y_of(value), left, y_of(value)), fill="black")
    for value in ticks(x_low, x_high):
        draw.text((x_of(value), height - bottom + 5), f"{value:,.0f}", fill="black", font=face, anchor="mt")
        draw.line((x_of(value), height - bottom, x_of(value), height - bottom + 3), fill="black")
    draw.text((left, top - 6), f"{title}{' (log scale)' if log else ''}", fill="black", font=face, anchor="lb")
    draw.text((width - right, height - 3), x_label, fill="black", font=face, anchor="rb")
    shown = 0
    for index, (name, series) in enumerate(lines.items()):  # a run's colour is its place in ``lines``, the same in every panel
        colour = COLOURS[index % len(COLOURS)]
        drawn = [(x_of(x), y_of(scale(y))) for x, y in series if math.isfinite(x) and math.isfinite(y) and (y > 0 or not log)]
        if not drawn:  # a run that does not log this quantity: not in this legend
            continue
        if len(drawn) > 1:
            draw.line(drawn, fill=colour, width=2)
        else:
            (x, y), = drawn
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        y = top + 8 + LINE * shown
        shown += 1
        draw.line((width - right + 8, y, width - right + 24, y), fill=colour, width=2)
        draw.text((width - right + 28, y), wrap(name, right - 32, 1)[0], fill=colour, font=face, anchor="lm")
    return canvas


def line_charts(panels: Sequence[tuple[str, dict[str, Series]]], x_label: str = "step") -> torch.Tensor:
    """Panels (title, lines) stacked top to bottom, as one (3, H, W) image in [0, 1]."""
    width, height = PANEL
    canvas = Image.new("RGB", (width, height * len(panels)), "white")
    for index, (title, lines) in enumerate(panels):
        canvas.paste(panel(title, lines, x_label), (0, height * index))
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
