"""What the searches are measured against and bounded by: natural images.

The measure DGN-AM and XDream report is the activation reached as a multiple of the unit's highest
activation over a set of natural images (:func:`natural_maxima`). The code's upper bound per unit is
DGN-AM's: "3 times the standard deviation around the mean activation" of each code unit over natural
images (``act_range/README.md`` of Evolving-AI-Lab/synthesizing), i.e. mean + 3 std (:func:`code_bounds`);
their own file for CaffeNet's fc6 (``act_range/3x/fc6.txt``, 4096 numbers on one line) is read by
:func:`read_bound_file`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..data.datasets import Source, eval_batches
from ..encoders import Encoder
from ..errors import InvertnetError
from ..files.guarded import read_text_input
from .targets import select

MAX_BOUND_FILE = 16 * 2**20


@torch.no_grad()
def natural_maxima(
    encoder: Encoder, layer: str, units: Sequence[int], position: tuple[int, int] | None, source: Source, count: int, batch_size: int = 32,
) -> list[tuple[float, str]]:
    """Each unit's highest activation over the first ``count`` images of ``source`` (the encoder's center crops), with
    that image's name; one forward pass per batch serves every unit."""
    best = [(-float("inf"), "") for _ in units]
    for names, images in eval_batches(source, count, batch_size, size=encoder.input_size):
        features = encoder(images.to(encoder.device), layer)
        for k, unit in enumerate(units):
            values = select(features, unit, position).float().cpu()
            index = int(values.argmax())
            if float(values[index]) > best[k][0]:
                best[k] = (float(values[index]), names[index])
    if not best or best[0][1] == "":
        raise InvertnetError("no natural images to compare with")
    return best


@torch.no_grad()
def code_bounds(features: torch.Tensor, multiplier: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """DGN-AM's bounds from natural images' codes (N, *shape): 0 below (a rectified layer) and mean + 3 std above."""
    if len(features) < 2:
        raise InvertnetError("the code's bounds need the codes of at least 2 natural images")
    upper = features.mean(0) + multiplier * features.std(0)
    return torch.zeros_like(upper)[None], upper[None]


def read_bound_file(path: str | Path, shape: tuple[int, ...]) -> torch.Tensor:
    """An upper bound per code unit in DGN-AM's text format (whitespace-separated numbers), shaped (1, *shape)."""
    text = read_text_input(Path(path), "bound file", max_bytes=MAX_BOUND_FILE)
    try:
        values = [float(word) for word in text.split()]
    except ValueError as error:
        raise InvertnetError(f"{path}: not a bound file (whitespace-separated numbers, one per code unit): {error}") from None
    count = int(torch.Size(shape).numel())
    if len(values) != count:
        raise InvertnetError(f"{path}: {len(values)} numbers, but the code has {count} units")
    bound = torch.tensor(values, dtype=torch.float32)
    if not torch.isfinite(bound).all() or (bound < 0).any():
        raise InvertnetError(f"{path}: the bounds must be finite numbers >= 0")
    return bound.view(1, *shape)
