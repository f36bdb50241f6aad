"""CMA-ES for thousands of dimensions: the Cholesky variant, which keeps a factor A of the covariance
(C = A Aᵀ) and its inverse and updates both by rank one per generation, in O(n²), never decomposing C.

Igel, Suttorp & Hansen, "A computational efficient covariance matrix update and a (1+1)-CMA for evolution
strategies" (GECCO 2006), with the (mu/mu_w, lambda) recombination and cumulative step-size adaptation of
Hansen's tutorial (arXiv:1604.00772, Table 1). This is what XDream's later versions use for the 4096-d fc6
code (Wang & Ponce, ``CholeskyCMAES`` in Animadversio/ActMax-Optimizer-Dev; its constants are theirs). At
n = 4096, population 28, a generation's ask and tell take 0.08 s on 2 CPU cores against pycma's 0.54 s with a
full covariance (``scripts/cmaes_bench.py``, docs/results.md, "Synthesis").
It maximises: ``tell`` takes the scores of the population ``ask`` returned, higher is better.
"""

from __future__ import annotations

import math

import torch

from ..devices import free_memory
from ..errors import InvertnetError


def default_population(dimensions: int) -> int:
    """Hansen's default lambda, 4 + floor(3 ln n): 28 for the 4096-d fc6 code."""
    return 4 + int(3 * math.log(dimensions))


def memory_needed(dimensions: int, population: int) -> int:
    """Bytes a search holds at once, in float64: A and its inverse (n x n each), and a generation's z and samples (lambda x n each)."""
    return 8 * (2 * dimensions * dimensions + 2 * population * dimensions)


def _check_fits(dimensions: int, population: int, device: torch.device) -> None:
    """Refuse, before allocating, a search that cannot fit in the memory free on ``device``."""
    need, free = memory_needed(dimensions, population), free_memory(device)
    if free is not None and need > free:
        raise InvertnetError(
            f"CMA-ES in {dimensions:,} dimensions with a population of {population:,} needs about {need / 2**30:.1f} GiB, "
            f"and {device} has {free / 2**30:.1f} GiB free: use a smaller population (--population)"
        )


class CholeskyCMAES:
    """A (mu/mu_w, lambda)-CMA-ES with rank-one Cholesky updates, in float64 on ``device``."""

    def __init__(
        self, mean: torch.Tensor, sigma: float, population: int | None = None, generator: torch.Generator | None = None,
    ) -> None:
        n = mean.numel()
        if n < 2:
            raise InvertnetError("CMA-ES needs a code of at least 2 dimensions")
        if not (sigma > 0 and math.isfinite(sigma)):
            raise InvertnetError(f"the CMA-ES step size must be a positive number, got {sigma}")
        self.n, self.sigma = n, float(sigma)
        self.population = population or default_population(n)
        if self.population < 2:
            raise InvertnetError(f"the CMA-ES population must be at least 2, got {self.population}")
        _check_fits(n, self.population, mean.device)
        self.generator = generator
        kwargs = {"dtype": torch.float64, "device": mean.device}
        self.mean = mean.detach().flatten().to(**kwargs)
        self.mu = self.population // 2
        weights = math.log(self.mu + 0.5) - torch.log(torch.arange(1, self.mu + 1, **kwargs))
        self.weights = weights / weights.sum()
        self.mueff = float(1 / (self.weights**2).sum())
        self.cc = 4 / (n + 4)
        self.cs = math.sqrt(self.mueff) / (math.sqrt(self.mueff) + math.sqrt(n))
        self.c1 = 2 / (n + math.sqrt(2)) ** 2
        self.damps = 1 + self.cs + 2 * max(0.0, math.sqrt((self.mueff - 1) / (n + 1)) - 1)
        self.chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
        self.A = torch.eye(n, **kwargs)
        self.A_inv = torch.eye(n, **kwargs)
        self.pc = torch.zeros(n, **kwargs)
        self.ps = torch.zeros(n, **kwargs)
        self._z: torch.Tensor | None = None
        self.generation = 0

    def ask(self) -> torch.Tensor:
        """The next population, (lambda, n): the mean plus sigma A z, z ~ N(0, I)."""
        self._z = torch.randn(self.population, self.n, dtype=torch.float64, generator=self.generator).to(self.mean.device)
        return self.mean + self.sigma * self._z @ self.A.T

    def tell(self, scores: torch.Tensor) -> None:
        """Update from the scores of the population :meth:`ask` returned (higher is better)."""
        if self._z is None:
            raise InvertnetError("tell() before ask()")
        scores = scores.detach().to(torch.float64).flatten()
        if scores.numel() != self.population:
            raise InvertnetError(f"tell() needs {self.population} scores, got {scores.numel()}")
        scores = torch.where(torch.isfinite(scores), scores, torch.full_like(scores, -math.inf))  # a NaN never wins
        order = torch.argsort(scores.cpu(), descending=True)[: self.mu].to(self.mean.device)
        z_mean = self.weights @ self._z[order]
        step = (z_mean @ self.A.T)  # (new mean - old mean) / sigma
        self.mean = self.mean + self.sigma * step
        self.ps = (1 - self.cs) * self.ps + math.sqrt(self.cs * (2 - self.cs) * self.mueff) * z_mean
        self.pc = (1 - self.cc) * self.pc + math.sqrt(self.cc * (2 - self.cc) * self.mueff) * step
        self._rank_one(self.pc)
        self.sigma *= math.exp((float(self.ps.norm()) / self.chi_n - 1) * self.cs / self.damps)
        self._z = None
        self.generation += 1

    def _rank_one(self, p: torch.Tensor) -> None:
        """C <- (1 - c1) C + c1 p pᵀ, applied to A and A⁻¹ directly (Igel et al., 2006, Theorem 1 and Lemma 1).

        In place (``addr_``): two passes over each n x n matrix, where building the outer products as new
        matrices took 25 times longer at n = 4096 (``scripts/cmaes_bench.py``)."""
        v = self.A_inv @ p
        norm = float(v @ v)
        if norm == 0 or not math.isfinite(norm):
            return
        a = math.sqrt(1 - self.c1)
        b = math.sqrt(1 + norm * self.c1 / (1 - self.c1))
        w = v @ self.A_inv  # before A⁻¹ changes
        self.A.mul_(a).addr_(p, v, alpha=(a / norm) * (b - 1))
        self.A_inv.div_(a).addr_(v, w, alpha=-(1 / (a * norm)) * (1 - 1 / b))
