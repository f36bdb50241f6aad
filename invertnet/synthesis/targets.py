"""What ``synthesize`` drives: a unit of an encoder, ``ENCODER:LAYER:UNIT`` (several units: ``UNIT,UNIT,...``).

ENCODER is any ``--encoder`` value, which may itself hold colons (``random:0``, ``caffenet:random:0``,
``caffenet:/path/x.caffemodel``), so LAYER and UNIT are read from the right. A unit of a convolutional
layer is one channel at one position of its map, the centre unless ``position`` says otherwise.
Anything else (a model of a neuron, another network, a recorded cell) is a callable ``score(images)``
returning one number per image, which :func:`invertnet.synthesis.synthesize` takes directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..encoders import Encoder
from ..errors import InvertnetError

Score = Callable[[torch.Tensor], torch.Tensor]
"""images (N, 3, S, S) in [0, 1] -> one activation per image, (N,); differentiable for the gradient method."""
MAX_UNITS = 100
"""The most units one command synthesizes (a grid of that many images)."""


@dataclass(frozen=True)
class Target:
    """Units of one layer of one encoder, parsed from ``ENCODER:LAYER:UNIT[,UNIT...]``."""

    encoder: str
    layer: str
    units: tuple[int, ...]
    position: tuple[int, int] | None = None

    @classmethod
    def parse(cls, text: str, position: str | None = None) -> Target:
        """``random:0:conv5:17`` -> encoder ``random:0``, layer ``conv5``, unit 17; ``position`` is ``X,Y``."""
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not all(parts):
            raise InvertnetError(f"--target {text!r}: write ENCODER:LAYER:UNIT, e.g. caffenet:fc8:945 or random:0:conv5:17")
        encoder, layer, units_text = parts
        units = []
        for word in units_text.split(","):
            if not (word.isascii() and word.isdigit()) or len(word) > 9:
                raise InvertnetError(f"--target {text!r}: the unit {word!r} is not a whole number (units count from 0)")
            units.append(int(word))
        if len(units) > MAX_UNITS:
            raise InvertnetError(f"--target {text!r}: {len(units)} units; at most {MAX_UNITS} at once")
        if len(set(units)) != len(units):
            raise InvertnetError(f"--target {text!r}: a unit is named twice")
        return cls(encoder, layer, tuple(units), _position(position) if position is not None else None)

    def label(self, unit: int) -> str:
        where = f" at {self.position[0]},{self.position[1]}" if self.position is not None else ""
        return f"{self.encoder}:{self.layer}:{unit}{where}"


@dataclass(frozen=True)
class OutsideTarget:
    """A score from outside the process (:mod:`.external`): one "unit", named by where its scores come from."""

    source: str
    units: tuple[int, ...] = (0,)

    def label(self, unit: int) -> str:
        return self.source


def _position(text: str) -> tuple[int, int]:
    words = text.split(",")
    if len(words) != 2 or not all(w.strip().isascii() and w.strip().isdigit() for w in words):
        raise InvertnetError(f"--position {text!r}: write X,Y (column and row of the map, from 0)")
    return int(words[0]), int(words[1])


def check_target(target: Target, shape: tuple[int, ...]) -> tuple[int, int] | None:
    """Refuse a unit or position outside ``shape`` (the layer's features); return the position used (None for a vector)."""
    count = shape[0]
    for unit in target.units:
        if unit >= count:
            raise InvertnetError(f"unit {unit} of {target.layer}: the layer has {count} units (0 to {count - 1})")
    if len(shape) == 1:
        if target.position is not None:
            raise InvertnetError(f"--position applies to a convolutional layer's map; {target.layer} is a vector of {count} units")
        return None
    height, width = shape[-2:]
    x, y = target.position if target.position is not None else (width // 2, height // 2)
    if not (0 <= x < width and 0 <= y < height):
        raise InvertnetError(f"--position {x},{y} is outside {target.layer}'s {width}x{height} map (X from 0 to {width - 1}, Y from 0 to {height - 1})")
    return x, y


def select(features: torch.Tensor, unit: int, position: tuple[int, int] | None) -> torch.Tensor:
    """One unit's activation per image from a layer's features (N, C) or (N, C, H, W)."""
    return features[:, unit] if position is None else features[:, unit, position[1], position[0]]


def unit_score(encoder: Encoder, layer: str, unit: int, position: tuple[int, int] | None) -> Score:
    """The activation of one unit of ``encoder`` at ``layer`` (at ``position`` of a map), per image."""
    return lambda images: select(encoder(images, layer), unit, position)
