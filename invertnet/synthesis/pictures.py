"""The pictures of a synthesis: the best images of several units as a labelled grid, one unit's best image per
stretch of the search as a strip, and the activation curves (best so far and mean per iteration)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..data.captions import labelled_rows, stacked
from .units import UnitResult

PER_ROW = 8
CURVE_SIZE = (640, 360)
MARGIN = (56, 24, 16, 40)
"""Left, top, right, bottom margins of a curve's plot area, in pixels."""
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207), (140, 86, 75), (227, 119, 194))


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
    word = "generation" if method == "cma" else "iteration"
    return labelled_rows(
        [("", torch.stack([image for _, image in snapshots]))], columns=[f"{word} {k + 1}" for k, _ in snapshots],
        title=f"{result.target.label(result.unit)}: the best image so far ({method})",
    )


def curves(results: Sequence[UnitResult], method: str) -> torch.Tensor:
    """Best-so-far (solid) and mean (thin) activation per iteration of each unit, on shared axes, with a legend."""
    width, height = CURVE_SIZE
    left, top, right, bottom = MARGIN
    canvas = Image.new("RGB", (width, height), "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    values = [v for r in results for v in (*r.search.best, *r.search.mean) if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    steps = max(len(r.search.best) for r in results)
    x_of = lambda i: left + (width - left - right) * (i / max(1, steps - 1))  # noqa: E731
    y_of = lambda v: top + (height - top - bottom) * (1 - (v - low) / (high - low))  # noqa: E731
    draw.rectangle((left, top, width - right, height - bottom), outline="black")
    for k in range(5):
        value = low + (high - low) * k / 4
        draw.text((4, y_of(value) - 5), f"{value:.3g}", fill="black", font=font)
        draw.line((left - 3, y_of(value), left, y_of(value)), fill="black")
    word = "generation" if method == "cma" else "iteration"
    for k in range(5):
        step = round((steps - 1) * k / 4)
        draw.text((x_of(step) - 8, height - bottom + 4), str(step + 1), fill="black", font=font)
    draw.text((left, height - 16), f"{word} ({method}); solid: best so far, thin: mean of the {word}'s images", fill="black", font=font)
    draw.text((left, 6), "activation", fill="black", font=font)
    for index, result in enumerate(results):
        colour = COLOURS[index % len(COLOURS)]
        for series, line_width in ((result.search.mean, 1), (result.search.best, 2)):
            points = [(x_of(i), y_of(v)) for i, v in enumerate(series) if math.isfinite(v)]
            if len(points) > 1:
                draw.line(points, fill=colour, width=line_width)
        if index < 12:
            draw.text((width - right - 90, top + 4 + 11 * index), f"unit {result.unit}", fill=colour, font=font)
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
