"""The pictures of a synthesis: the best images of several units as a labelled grid, one unit's best image per
stretch of the search as a strip, and the activation curves (best so far and mean per iteration)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..data.captions import LINE, font, labelled_rows, stacked
from ..data.charts import COLOURS, ticks
from .search import step_name
from .units import UnitResult

PER_ROW = 8
CURVE_SIZE = (760, 380)
MARGIN = (64, 28, 100, 44)
"""Left, top, right, bottom margins of a curve's plot area, in pixels; the legend is in the right one."""
LEGEND_ROWS = 18


def _caption(result: UnitResult) -> str:
    ratio = f", {result.ratio:.2f}x best natural" if result.ratio is not None else ""
    return f"unit {result.unit}: {result.search.activation:.3g}{ratio}"


def units_grid(results: Sequence[UnitResult], title: str) -> torch.Tensor:
    """The best image of each unit, labelled with the unit and its activation, in rows of :data:`PER_ROW`, under ``title``."""
    rows = []
    for start in range(0, len(results), PER_ROW):
        chunk = results[start : start + PER_ROW]
        rows.append(labelled_rows([("", torch.stack([r.search.image for r in chunk]))], columns=[_caption(r) for r in chunk]))
    return stacked(rows, title)


def search_strip(result: UnitResult, method: str) -> torch.Tensor:
    """One unit's best image at evenly spaced iterations of the search, each labelled with its iteration."""
    snapshots = result.search.snapshots
    word = step_name(method)
    return labelled_rows(
        [("", torch.stack([image for _, image in snapshots]))], columns=[f"{word} {k + 1}" for k, _ in snapshots],
        title=f"{result.target.label(result.unit)}: the best image so far ({method})",
    )


def curves(results: Sequence[UnitResult], method: str) -> torch.Tensor:
    """Best-so-far (solid) and mean (thin) activation per iteration of each unit, on shared axes, with a legend beside them."""
    width, height = CURVE_SIZE
    left, top, right, bottom = MARGIN
    canvas = Image.new("RGB", (width, height), "white")
    draw, face = ImageDraw.Draw(canvas), font()
    values = [v for r in results for v in (*r.search.best, *r.search.mean) if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    steps = max(len(r.search.best) for r in results)
    x_of = lambda i: left + (width - left - right) * (i / (steps - 1) if steps > 1 else 0.5)  # noqa: E731
    y_of = lambda v: top + (height - top - bottom) * (1 - (v - low) / (high - low))  # noqa: E731
    draw.rectangle((left, top, width - right, height - bottom), outline="black")
    for value in ticks(low, high):
        draw.text((left - 6, y_of(value)), f"{value:.4g}", fill="black", font=face, anchor="rm")
        draw.line((left - 3, y_of(value), left, y_of(value)), fill="black")
    word = step_name(method)
    for step in sorted({1, *(int(t) for t in ticks(1, steps) if t == int(t))}):
        draw.text((x_of(step - 1), height - bottom + 5), f"{step:g}", fill="black", font=face, anchor="mt")
        draw.line((x_of(step - 1), height - bottom, x_of(step - 1), height - bottom + 3), fill="black")
    draw.text((left, height - 3), f"{word} ({method}); solid: best so far, thin: mean of the {word}'s images", fill="black", font=face, anchor="lb")
    draw.text((left, top - 6), "activation", fill="black", font=face, anchor="lb")
    for index, result in enumerate(results):
        colour = COLOURS[index % len(COLOURS)]
        for series, line_width in ((result.search.mean, 1), (result.search.best, 2)):
            points = [(x_of(i), y_of(v)) for i, v in enumerate(series) if math.isfinite(v)]
            if len(points) > 1:
                draw.line(points, fill=colour, width=line_width)
            elif points:  # one iteration: a dot
                (x, y), = points
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        if index < LEGEND_ROWS:
            y = top + 8 + LINE * index
            draw.line((width - right + 8, y, width - right + 24, y), fill=colour, width=2)
            draw.text((width - right + 28, y), f"unit {result.unit}", fill=colour, font=face, anchor="lm")
    if len(results) > LEGEND_ROWS:
        draw.text((width - right + 8, top + 8 + LINE * LEGEND_ROWS), f"+{len(results) - LEGEND_ROWS} more", fill="black", font=face, anchor="lm")
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
