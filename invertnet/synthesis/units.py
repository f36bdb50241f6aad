"""Preferred images of encoder units through a generator invertnet can load: what ``invertnet synthesize`` runs."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.datasets import Source
from ..encoders import Encoder
from ..inversion import Inverter
from .reference import natural_maxima
from .search import Decode, Generation, SearchConfig, SearchResult, State, synthesize
from .targets import OutsideTarget, Score, Target, check_target, unit_score


@dataclass
class UnitResult:
    """One unit's search, and the natural images it is measured against."""

    target: Target | OutsideTarget
    unit: int
    search: SearchResult
    natural: float | None = None
    natural_image: str | None = None
    natural_count: int = 0

    @property
    def ratio(self) -> float | None:
        """The activation reached as a multiple of the best natural image's (None without natural images, or one <= 0)."""
        if self.natural is None or self.natural <= 0:
            return None
        return self.search.activation / self.natural

    def summary(self) -> dict[str, object]:
        code = self.search.code.flatten()
        return {
            "target": self.target.label(self.unit), "unit": self.unit, "activation": self.search.activation,
            "best_iteration": self.search.iteration, "natural_max": self.natural, "natural_image": self.natural_image,
            "natural_images": self.natural_count, "ratio_to_natural": self.ratio, "evaluations": self.search.evaluations[-1],
            "best": self.search.best, "mean": [None if math.isnan(v) else v for v in self.search.mean],
            "evaluations_per_iteration": self.search.evaluations,
            "code": {"dimensions": code.numel(), "mean": float(code.mean()), "std": float(code.std()) if code.numel() > 1 else 0.0,
                     "min": float(code.min()), "max": float(code.max()), "norm": float(code.norm()), "zeros": int((code == 0).sum())},
        }


def decoder_of(inverter: Inverter, size: int) -> Decode:
    """The generator as a differentiable ``codes -> images`` in about [0, 1], at the target encoder's input ``size``."""
    own = inverter.input_size

    def decode(codes: torch.Tensor) -> torch.Tensor:
        images = inverter.generator.decode(codes.to(inverter.device))[..., :own, :own] / 255.0
        if own != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=own > size)
        return images

    return decode


def synthesize_outside(
    inverter: Inverter, score: Score, source: str, config: SearchConfig, *, start: torch.Tensor, lower: torch.Tensor | None = None,
    upper: torch.Tensor | None = None, on_iteration: Callable[[int, float], None] | None = None, on_generation: Generation | None = None,
    checkpoint: Callable[[State], None] | None = None, resume: State | None = None,
) -> UnitResult:
    """Search ``inverter``'s code space for the images ``score`` (from outside the process, :mod:`.external`) rates
    highest; the images it sees are the generator's own, at its own size. ``source`` names the scorer."""
    decode = decoder_of(inverter, inverter.input_size)
    search = synthesize(decode, score, start.to(inverter.device), config, lower=lower, upper=upper, on_iteration=on_iteration,
                        on_generation=on_generation, checkpoint=checkpoint, resume=resume)
    return UnitResult(OutsideTarget(source), 0, search)


def synthesize_units(
    inverter: Inverter, encoder: Encoder, target: Target, config: SearchConfig, *, start: torch.Tensor,
    lower: torch.Tensor | None = None, upper: torch.Tensor | None = None, natural: Source | None = None, natural_count: int = 256,
    on_iteration: Callable[[int, int, float], None] | None = None, on_generation: Callable[[int], Generation] | None = None,
) -> list[UnitResult]:
    """Search ``inverter``'s code space for each unit of ``target`` on ``encoder``, from the code ``start``;
    with ``natural``, measure each unit on its first ``natural_count`` images too. ``on_iteration(unit, done, best)``;
    ``on_generation(unit)``: that unit's :data:`~.search.Generation` callback (cma and ga)."""
    position = check_target(target, encoder.feature_shape(target.layer))
    decode = decoder_of(inverter, encoder.input_size)
    maxima = natural_maxima(encoder, target.layer, target.units, position, natural, natural_count) if natural is not None else None
    results = []
    for k, unit in enumerate(target.units):
        score = unit_score(encoder, target.layer, unit, position)
        callback = (lambda done, best, unit=unit: on_iteration(unit, done, best)) if on_iteration is not None else None
        seen = on_generation(unit) if on_generation is not None else None
        search = synthesize(decode, score, start.to(inverter.device), config, lower=lower, upper=upper, on_iteration=callback, on_generation=seen)
        result = UnitResult(target, unit, search)
        if maxima is not None and natural is not None:
            result.natural, result.natural_image = maxima[k]
            result.natural_count = min(natural_count, len(natural))
        results.append(result)
    return results
