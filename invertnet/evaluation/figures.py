"""The paper's comparison figures as labelled image grids.

Fig. 3: the inputs, then their reconstructions from each layer (a row per layer).
Fig. 4: the inputs, then their reconstructions by each method (a row per method).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..data.imageio import grid
from ..encoders.alexnet import LAYERS
from ..inversion import Inverter
from .protocol import Method

LABEL_WIDTH = 200


def labelled_rows(rows: Sequence[tuple[str, torch.Tensor]], padding: int = 2) -> torch.Tensor:
    """Rows of images (each (k, 3, H, W) in [0, 1]) with a text label on the left of each row."""
    columns = max(len(images) for _, images in rows)
    height = rows[0][1].shape[-2] + padding
    body = grid(torch.cat([torch.cat([images, torch.ones(columns - len(images), *images.shape[1:])]) for _, images in rows]), columns, padding)
    canvas = Image.new("RGB", (LABEL_WIDTH + body.shape[-1], body.shape[-2]), "white")
    canvas.paste(Image.fromarray((body.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)), (LABEL_WIDTH, 0))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    for index, (label, _) in enumerate(rows):
        y = padding + index * height + height // 2
        for line_number, line in enumerate(_wrap(label, 28)):
            draw.text((6, y - 8 + 12 * line_number), line, fill="black", font=font)
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line][:4]


def layers_figure(inputs: torch.Tensor, inverters: Sequence[Inverter]) -> torch.Tensor:
    """Fig. 3: inputs, then a row per layer (ordered conv5, fc6, fc7, fc8)."""
    ordered = sorted(inverters, key=lambda inverter: LAYERS.index(inverter.layer))
    rows = [("input", inputs.cpu())] + [(inverter.layer, inverter.invert(inputs).cpu()) for inverter in ordered]
    return labelled_rows(rows)


def methods_figure(inputs: torch.Tensor, methods: Sequence[Method], alexnet_features: torch.nn.Module) -> torch.Tensor:
    """Fig. 4: inputs, then a row per method (each reconstructs from its layer's features, or a VAE's or autoencoder's own code)."""
    rows = [("input", inputs.cpu())]
    for method in methods:
        with torch.no_grad():
            features = alexnet_features(inputs, method.layer) if method.encode is None else method.encode(inputs)
        rows.append((f"{method.name} ({method.layer})", method.reconstruct(features).cpu()))
    return labelled_rows(rows)
