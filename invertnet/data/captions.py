"""Pictures that say what they show: a grid of image rows with a label left of each row, an optional label
above each column and a title line (the input, the reconstruction, step k, the layer, the model).

Labels are drawn with Pillow's built-in scalable font (Aileron, shipped inside Pillow since 10.1) at
:data:`FONT_SIZE` pixels: legible at 100%, and the same on every machine (no system font is looked up).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .imageio import grid

FONT_SIZE = 13
"""Pixels of the type (the em size): about 7 pixels a character, capitals 9 pixels high."""
LINE = 16
"""Pixels per line of text."""
LABEL_WIDTH = 200
"""Pixels left of the rows for their labels (about 26 characters a line, up to 4 lines)."""
TITLE_LINES = 2
"""A title longer than the picture is wide goes on to a second line (and ends with an ellipsis beyond that)."""
ELLIPSIS = "\u2026"


@functools.cache
def font(size: int = FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in scalable font at ``size`` pixels (its small bitmap font only where Pillow lacks FreeType)."""
    return ImageFont.load_default(size=size)


def wrap(text: str, width: float, lines: int = 4) -> list[str]:
    """``text`` in lines at most ``width`` pixels wide in :func:`font`, broken at spaces; a word wider than a line is
    broken across lines, never dropped. Text beyond ``lines`` lines ends the last one with an ellipsis, so a cut shows."""
    face, out, line = font(), [], ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if face.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            out.append(line)
        line = word
        while face.getlength(line) > width and len(line) > 1:  # a long word (a path, a run name): split where it fills a line
            cut = next((k for k in range(len(line) - 1, 0, -1) if face.getlength(line[:k]) <= width), 1)
            out.append(line[:cut])
            line = line[cut:]
    out = [*out, line] if line else out
    if len(out) > lines:
        last = out[lines - 1]
        while last and face.getlength(last + ELLIPSIS) > width:
            last = last[:-1]
        out = [*out[: lines - 1], last + ELLIPSIS]
    return out or [""]


def labelled_rows(
    rows: Sequence[tuple[str, torch.Tensor]], *, columns: Sequence[str] | None = None, title: str | None = None, padding: int = 2,
) -> torch.Tensor:
    """Rows of images (each (k, 3, H, W) in [0, 1]) with a label left of each row, ``columns`` above the columns,
    and ``title`` on top; returns one (3, H, W) image in [0, 1]."""
    count = max(len(images) for _, images in rows)
    side = rows[0][1].shape[-1]
    filler = [torch.ones(count - len(images), *images.shape[1:]) for _, images in rows]
    body = grid(torch.cat([torch.cat([images.cpu(), fill]) for (_, images), fill in zip(rows, filler)]), count, padding)
    face, cell = font(), side + padding - 4
    left = LABEL_WIDTH if any(label for label, _ in rows) else 0
    heading = wrap(title, left + body.shape[-1] - 12, TITLE_LINES) if title else []
    header = LINE * (len(heading) + (max(len(wrap(c, cell, 2)) for c in columns) if columns else 0)) + (4 if title or columns else 0)
    canvas = Image.new("RGB", (left + body.shape[-1], header + body.shape[-2]), "white")
    canvas.paste(Image.fromarray((body.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)), (left, header))
    draw = ImageDraw.Draw(canvas)
    y = 2
    for line in heading:
        draw.text((6, y), line, fill="black", font=face)
        y += LINE
    for index, label in enumerate(columns or []):
        for number, line in enumerate(wrap(label, cell, 2)):
            draw.text((left + padding + index * (side + padding), y + LINE * number), line, fill="black", font=face)
    height = rows[0][1].shape[-2] + padding
    for index, (label, _) in enumerate(rows):
        lines = wrap(label, LABEL_WIDTH - 12)
        top = header + padding + index * height + height // 2 - LINE * len(lines) // 2
        for number, line in enumerate(lines):
            draw.text((6, top + LINE * number), line, fill="black", font=face)
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)


def stacked(pictures: Sequence[torch.Tensor], title: str | None = None) -> torch.Tensor:
    """Pictures (3, H, W) one above the other on white (narrower ones padded right), under an optional ``title``."""
    width = max(picture.shape[-1] for picture in pictures)
    padded = [torch.cat([p, torch.ones(3, p.shape[1], width - p.shape[-1])], dim=-1) for p in pictures]
    body = torch.cat(padded, dim=1)
    if not title:
        return body
    heading = wrap(title, width - 12, TITLE_LINES)
    canvas = Image.new("RGB", (width, LINE * len(heading) + 4), "white")
    draw = ImageDraw.Draw(canvas)
    for number, line in enumerate(heading):
        draw.text((6, 2 + LINE * number), line, fill="black", font=font())
    band = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return torch.cat([band, body], dim=1)
