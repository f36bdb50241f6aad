"""Pictures that say what they show: a grid of image rows with a label left of each row, an optional label
above each column and a title line (the input, the reconstruction, step k, the layer, the model).

Labels are drawn with Pillow's built-in font, so the pictures look the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .imageio import grid

LABEL_WIDTH = 200
"""Pixels left of the rows for their labels (28 characters a line, up to 4 lines)."""
LINE = 12
"""Pixels per line of text."""


def wrap(text: str, width: int, lines: int = 4) -> list[str]:
    """``text`` cut into lines of at most ``width`` characters at spaces (a longer word is cut), at most ``lines``."""
    out, line = [], ""
    for word in text.split():
        word = word[:width]
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*out, line][:lines]


def labelled_rows(
    rows: Sequence[tuple[str, torch.Tensor]], *, columns: Sequence[str] | None = None, title: str | None = None, padding: int = 2,
) -> torch.Tensor:
    """Rows of images (each (k, 3, H, W) in [0, 1]) with a label left of each row, ``columns`` above the columns,
    and ``title`` on top; returns one (3, H, W) image in [0, 1]."""
    count = max(len(images) for _, images in rows)
    side = rows[0][1].shape[-1]
    filler = [torch.ones(count - len(images), *images.shape[1:]) for _, images in rows]
    body = grid(torch.cat([torch.cat([images.cpu(), fill]) for (_, images), fill in zip(rows, filler)]), count, padding)
    draw, font = ImageDraw.Draw(Image.new("RGB", (1, 1))), ImageFont.load_default()
    chars = max(1, int((side + padding) / max(font.getlength("n"), 1)) - 1)
    header = LINE * ((1 if title else 0) + (max(len(wrap(c, chars, 2)) for c in columns) if columns else 0)) + (4 if title or columns else 0)
    left = LABEL_WIDTH if any(label for label, _ in rows) else 0
    canvas = Image.new("RGB", (left + body.shape[-1], header + body.shape[-2]), "white")
    canvas.paste(Image.fromarray((body.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)), (left, header))
    draw = ImageDraw.Draw(canvas)
    y = 2
    if title:
        draw.text((6, y), wrap(title, int(canvas.width / max(font.getlength("n"), 1)) - 2, 1)[0], fill="black", font=font)
        y += LINE
    for index, label in enumerate(columns or []):
        for number, line in enumerate(wrap(label, chars, 2)):
            draw.text((left + padding + index * (side + padding), y + LINE * number), line, fill="black", font=font)
    height = rows[0][1].shape[-2] + padding
    for index, (label, _) in enumerate(rows):
        lines = wrap(label, 28)
        top = header + padding + index * height + height // 2 - LINE * len(lines) // 2
        for number, line in enumerate(lines):
            draw.text((6, top + LINE * number), line, fill="black", font=font)
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)


def stacked(pictures: Sequence[torch.Tensor], title: str | None = None) -> torch.Tensor:
    """Pictures (3, H, W) one above the other on white (narrower ones padded right), under an optional ``title``."""
    width = max(picture.shape[-1] for picture in pictures)
    padded = [torch.cat([p, torch.ones(3, p.shape[1], width - p.shape[-1])], dim=-1) for p in pictures]
    body = torch.cat(padded, dim=1)
    if not title:
        return body
    canvas = Image.new("RGB", (width, LINE + 4), "white")
    font = ImageFont.load_default()
    ImageDraw.Draw(canvas).text((6, 2), wrap(title, int(width / max(font.getlength("n"), 1)) - 2, 1)[0], fill="black", font=font)
    band = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return torch.cat([band, body], dim=1)
