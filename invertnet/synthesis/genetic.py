"""XDream's genetic algorithm (Ponce et al., Cell 2019; Xiao & Kreiman, PLoS Comput. Biol. 2020), our own code after
the published description and settings of willwx/XDream (``xdream/Optimizers.py``, class ``Genetic``).

Each generation keeps its ``conserve`` best codes unchanged and fills the rest with children. A child takes
each element from one of two parents (the first with probability ``heritability``), parents drawn with
probability proportional to their fitness, exp((score - best) / kT) with kT = std(scores) / ``selectivity``
(scores above the generation's 95th percentile are clipped to it first, so one outlier does not take every
draw); then each element mutates with probability ``mutation_rate`` by N(0, ``mutation_size``²). The first
generation is N(0, 1) codes (XDream's default "white noise" start).

The defaults are XDream's published example settings (``examples/experiment.py`` and the README of
willwx/XDream, the settings of Xiao & Kreiman's comparisons): population 20, mutation rate 0.5, mutation
size 0.5, selectivity 2, heritability 0.5, one code conserved. Like :class:`~.cmaes.CholeskyCMAES` it has
``ask``/``tell`` (higher scores are better) and a ``state`` to resume from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InvertnetError


@dataclass(frozen=True)
class GeneticSettings:
    """XDream's genetic algorithm's settings (module docstring: the source of each default)."""

    population: int = 20
    mutation_rate: float = 0.5
    mutation_size: float = 0.5
    selectivity: float = 2.0
    heritability: float = 0.5
    conserve: int = 1

    def check(self) -> None:
        if not 2 <= self.population:
            raise InvertnetError(f"the genetic algorithm's population must be at least 2, got {self.population}")
        if not 0 <= self.mutation_rate <= 1:
            raise InvertnetError(f"the mutation rate must be in [0, 1], got {self.mutation_rate}")
        if not (self.mutation_size > 0 and math.isfinite(self.mutation_size)):
            raise InvertnetError(f"the mutation size must be a positive number, got {self.mutation_size}")
        if not (self.selectivity > 0 and math.isfinite(self.selectivity)):
            raise InvertnetError(f"the selectivity must be a positive number, got {self.selectivity}")
        if not 0.5 <= self.heritability <= 1:
            raise InvertnetError(f"the heritability must be in [0.5, 1] (it is symmetric around 0.5), got {self.heritability}")
        if not 0 <= self.conserve < self.population:
            raise InvertnetError(f"the codes conserved must be from 0 to the population - 1 ({self.population - 1}), got {self.conserve}")


class GeneticAlgorithm:
    """XDream's genetic algorithm on codes of ``dimensions`` elements, in float64 on ``device``, drawn from ``generator``."""

    def __init__(
        self, dimensions: int, settings: GeneticSettings | None = None, generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.settings = settings or GeneticSettings()
        self.settings.check()
        self.n, self.population, self.generator = dimensions, self.settings.population, generator
        self.codes = torch.randn(self.population, dimensions, dtype=torch.float64, generator=generator).to(device)
        self.generation = 0

    def ask(self) -> torch.Tensor:
        """This generation's codes, (population, n)."""
        return self.codes

    def tell(self, scores: torch.Tensor) -> None:
        """Breed the next generation from the scores of :meth:`ask`'s codes (higher is better)."""
        s = self.settings
        scores = scores.detach().to(torch.float64).flatten().cpu()
        if scores.numel() != self.population:
            raise InvertnetError(f"tell() needs {self.population} scores, got {scores.numel()}")
        if not torch.isfinite(scores).all():
            raise InvertnetError("the genetic algorithm needs finite scores")
        kT = max(float(scores.std()) / s.selectivity, 1e-8)  # the population is at least 2: std is defined
        order = torch.argsort(scores, descending=True, stable=True)
        ranked = self.codes[order.to(self.codes.device)]
        clipped = scores[order].clamp(max=float(torch.quantile(scores, 0.95)))
        fitness = torch.exp((clipped - clipped[0]) / kT)
        children = self.population - s.conserve
        draws = torch.rand(2, children, dtype=torch.float64, generator=self.generator)
        bins = torch.cumsum(fitness, 0) / fitness.sum()
        parents = torch.searchsorted(bins, draws, right=True).clamp(max=self.population - 1).to(self.codes.device)
        first = torch.rand(children, self.n, dtype=torch.float64, generator=self.generator).to(self.codes.device) < s.heritability
        offspring = torch.where(first, ranked[parents[0]], ranked[parents[1]])
        mutate = torch.rand(children, self.n, dtype=torch.float64, generator=self.generator).to(self.codes.device) < s.mutation_rate
        noise = torch.randn(children, self.n, dtype=torch.float64, generator=self.generator).to(self.codes.device) * s.mutation_size
        offspring = offspring + mutate * noise
        self.codes = torch.cat([ranked[: s.conserve], offspring])
        self.generation += 1

    def state(self) -> dict[str, torch.Tensor]:
        """What :meth:`load_state` needs to go on exactly as this search would."""
        return {"codes": self.codes.cpu(), "generation": torch.tensor(self.generation)}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        codes = state["codes"]
        if codes.shape != (self.population, self.n):
            raise InvertnetError(f"the saved population is {tuple(codes.shape)}, this search's is {(self.population, self.n)}")
        self.codes = codes.to(self.codes)
        self.generation = int(state["generation"])
