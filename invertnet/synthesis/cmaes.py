"""CMA-ES for thousands of dimensions: the Cholesky variant, which keeps a factor A of the covariance
(C = A Aᵀ) and its inverse and updates both in O(n² k) per generation (k: the rank of the update), never
decomposing C.

Two sets of constants (``variant``):

- ``hansen`` (the default): Hansen's CMA-ES as his pycma runs it. The rank-one and rank-mu updates of C with the
  tutorial's constants (arXiv:1604.00772, Table 1: c_1 = 2 / ((n + 1.3)² + mu_eff), c_mu = min(1 - c_1, 2 (mu_eff - 2 +
  1 / mu_eff) / ((n + 2)² + mu_eff)), c_c = (4 + mu_eff / n) / (n + 4 + 2 mu_eff / n)), applied to A and A⁻¹ at once as
  one rank-(mu + 1) update, A' = sqrt(alpha) A (I + V M Vᵀ), with M from the eigenvalues of the small matrix VᵀV (the
  symmetric square root of I + V Vᵀ): two matrix products, not mu rank-one passes. The step size: below
  :data:`TPA_DIMENSIONS` dimensions, cumulative step-size adaptation with the tutorial's c_sigma = (mu_eff + 2) /
  (n + mu_eff + 5), d_sigma = 1 + 2 max(0, sqrt((mu_eff - 1) / (n + 1)) - 1) + c_sigma and the stall h_sigma; from
  there up (fc6's 4096), two-point adaptation (Hansen, "CMA-ES with two-point step-size adaptation", 2008; the
  form of Akimoto & Hansen 2020 that pycma uses there): two of each generation's samples lie along the last
  step of the mean, one each way, at a random Mahalanobis length, and the step size grows when the forward one
  ranks better, shrinks otherwise, smoothed (c = 0.3) and damped (0.7 + 2 ln n). CSA adapts the step in
  thousands of dimensions far too slowly from a start much too large (sigma 3 for fc6 codes: 3.9 times pycma's
  distance to go after 200 generations, ``scripts/cmaes_bench.py``; docs/results.md, "Synthesis").
- ``xdream``: the constants of XDream's Cholesky CMA-ES (Wang & Ponce, ``CholeskyCMAES`` in
  Animadversio/ActMax-Optimizer-Dev, after Igel, Suttorp & Hansen, GECCO 2006): c_sigma = sqrt(mu_eff) / (sqrt(mu_eff) +
  sqrt(n)), d_sigma = 1 + c_sigma + 2 max(0, sqrt((mu_eff - 1) / (n + 1)) - 1), c_c = 4 / (n + 4), c_1 = 2 / (n + sqrt 2)²,
  rank-one updates only, no stall. Kept for work that must reproduce their searches: started from a step far
  too large (sigma 3 in fc6's 4096 dimensions), it shrinks the step more slowly than Hansen's settings
  (``scripts/cmaes_bench.py``, docs/results.md, "Synthesis").

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


VARIANTS = ("hansen", "xdream")
TPA_DIMENSIONS = 300
"""From this many dimensions up, the ``hansen`` variant adapts its step size by two-point adaptation, as pycma does."""
TPA_SMOOTHING = 0.3


class CholeskyCMAES:
    """A (mu/mu_w, lambda)-CMA-ES on a Cholesky factor of C, in float64 on ``mean``'s device (``variant``: module docstring)."""

    def __init__(
        self, mean: torch.Tensor, sigma: float, population: int | None = None, generator: torch.Generator | None = None,
        variant: str = "hansen",
    ) -> None:
        n = mean.numel()
        if n < 2:
            raise InvertnetError("CMA-ES needs a code of at least 2 dimensions")
        if not (sigma > 0 and math.isfinite(sigma)):
            raise InvertnetError(f"the CMA-ES step size must be a positive number, got {sigma}")
        if variant not in VARIANTS:
            raise InvertnetError(f"unknown CMA-ES variant {variant!r}: choose one of {', '.join(VARIANTS)}")
        self.n, self.sigma, self.variant = n, float(sigma), variant
        self.population = population or default_population(n)
        if self.population < 2:
            raise InvertnetError(f"the CMA-ES population must be at least 2, got {self.population}")
        _check_fits(n, self.population, mean.device)
        self.generator = generator
        kwargs = {"dtype": torch.float64, "device": mean.device}
        self.mean = mean.detach().flatten().to(**kwargs)
        self.mu = self.population // 2
        weights = math.log((self.population + 1) / 2) - torch.log(torch.arange(1, self.mu + 1, **kwargs))
        if variant == "xdream":
            weights = math.log(self.mu + 0.5) - torch.log(torch.arange(1, self.mu + 1, **kwargs))
        self.weights = weights / weights.sum()
        self.mueff = mueff = float(1 / (self.weights**2).sum())
        damping = 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1)
        if variant == "hansen":
            self.cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
            self.cs = (mueff + 2) / (n + mueff + 5)
            self.c1 = 2 / ((n + 1.3) ** 2 + mueff)
            self.cmu = min(1 - self.c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
        else:
            self.cc = 4 / (n + 4)
            self.cs = math.sqrt(mueff) / (math.sqrt(mueff) + math.sqrt(n))
            self.c1 = 2 / (n + math.sqrt(2)) ** 2
            self.cmu = 0.0
        self.damps = 1 + damping + self.cs
        self.tpa = variant == "hansen" and n >= TPA_DIMENSIONS
        self.tpa_damping = 0.7 + 2 * math.log(n) + 2 * math.log(max(1, self.population - n))
        self.tpa_state = 0.0
        self._shift: torch.Tensor | None = None  # the last step of the mean, in A's coordinates (z), for the two points
        self.chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
        self.A = torch.eye(n, **kwargs)
        self.A_inv = torch.eye(n, **kwargs)
        self.pc = torch.zeros(n, **kwargs)
        self.ps = torch.zeros(n, **kwargs)
        self._z: torch.Tensor | None = None
        self.generation = 0

    def ask(self) -> torch.Tensor:
        """The next population, (lambda, n): the mean plus sigma A z, z ~ N(0, I); with two-point adaptation, after
        the first generation z_0 and z_1 = -z_0 point along the mean's last step, as long as the draw of z_0 was."""
        self._z = torch.randn(self.population, self.n, dtype=torch.float64, generator=self.generator).to(self.mean.device)
        if self._two_points():
            assert self._shift is not None
            self._z[0] = self._shift / self._shift.norm() * self._z[0].norm()
            self._z[1] = -self._z[0]
        return self.mean + self.sigma * self._z @ self.A.T

    def _two_points(self) -> bool:
        return self.tpa and self._shift is not None and float(self._shift.norm()) > 0

    def tell(self, scores: torch.Tensor) -> None:
        """Update from the scores of the population :meth:`ask` returned (higher is better)."""
        if self._z is None:
            raise InvertnetError("tell() before ask()")
        scores = scores.detach().to(torch.float64).flatten()
        if scores.numel() != self.population:
            raise InvertnetError(f"tell() needs {self.population} scores, got {scores.numel()}")
        scores = torch.where(torch.isfinite(scores), scores, torch.full_like(scores, -math.inf))  # a NaN never wins
        two_points = self._two_points()
        order = torch.argsort(scores.cpu(), descending=True, stable=True)[: self.mu].to(self.mean.device)
        chosen = self._z[order]
        z_mean = self.weights @ chosen
        step = z_mean @ self.A.T  # (new mean - old mean) / sigma
        self.mean = self.mean + self.sigma * step
        self._shift = z_mean
        self.ps = (1 - self.cs) * self.ps + math.sqrt(self.cs * (2 - self.cs) * self.mueff) * z_mean
        self.generation += 1
        if self.variant == "hansen":
            stalled = not self.tpa and (
                float(self.ps.norm()) / math.sqrt(1 - (1 - self.cs) ** (2 * self.generation)) >= (1.4 + 2 / (self.n + 1)) * self.chi_n
            )
            self.pc = (1 - self.cc) * self.pc + (0.0 if stalled else math.sqrt(self.cc * (2 - self.cc) * self.mueff)) * step
            kept = 1 - self.c1 - self.cmu + (self.c1 * self.cc * (2 - self.cc) if stalled else 0.0)
            # C <- kept C + c1 pc pcᵀ + cmu sum_i w_i y_i y_iᵀ, y_i = A z_i: in A's coordinates, the columns of V
            columns = torch.cat([(math.sqrt(self.c1) * (self.A_inv @ self.pc))[None], math.sqrt(self.cmu) * self.weights.sqrt()[:, None] * chosen])
            self._low_rank(kept, columns.T)
        else:
            self.pc = (1 - self.cc) * self.pc + math.sqrt(self.cc * (2 - self.cc) * self.mueff) * step
            self._rank_one(self.pc)
        if self.tpa:
            if two_points:  # the forward point's rank against the backward one's, in [-1, 1]: > 0 when forward is better
                rank = float((scores > scores[1]).sum() - (scores > scores[0]).sum()) / (self.population - 1)
                self.tpa_state = (1 - TPA_SMOOTHING) * self.tpa_state + TPA_SMOOTHING * math.copysign(abs(rank) ** 0.5, rank)
                self.sigma *= math.exp(self.tpa_state / self.tpa_damping)
        else:
            change = (float(self.ps.norm()) / self.chi_n - 1) * self.cs / self.damps
            self.sigma *= math.exp(min(1.0, change) if self.variant == "hansen" else change)  # hansen: at most e-fold a generation, as pycma
        self._z = None

    def _low_rank(self, kept: float, columns: torch.Tensor) -> None:
        """C <- kept C + A U Uᵀ Aᵀ for U = ``columns`` (n x k, in A's coordinates), on A and A⁻¹ directly.

        With V = U / sqrt(kept), C' = kept A (I + V Vᵀ) Aᵀ, and the symmetric square root of I + V Vᵀ is
        I + V Q f(L) Qᵀ Vᵀ for VᵀV = Q L Qᵀ, f(l) = 1 / (1 + sqrt(1 + l)); its inverse has f(l) = -1 / (sqrt(1 + l) (1 + sqrt(1 + l))).
        So A' = sqrt(kept) (A + (A V) M Vᵀ) and A'⁻¹ = (A⁻¹ + V M' (Vᵀ A⁻¹)) / sqrt(kept): O(n² k), exact."""
        v = columns / math.sqrt(kept)
        values, vectors = torch.linalg.eigh(v.T @ v)
        root = (1 + values.clamp(min=0)).sqrt()
        grow = (vectors / (1 + root)) @ vectors.T
        shrink = (vectors * (-1 / (root * (1 + root)))) @ vectors.T
        a_v = self.A @ v
        left = v.T @ self.A_inv
        self.A.addmm_(a_v @ grow, v.T).mul_(math.sqrt(kept))
        self.A_inv.addmm_(v @ shrink, left).div_(math.sqrt(kept))

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

    def state(self) -> dict[str, torch.Tensor]:
        """What :meth:`load_state` needs to go on exactly as this search would (the random generator is the caller's)."""
        shift = self._shift if self._shift is not None else torch.zeros_like(self.mean)
        return {
            "mean": self.mean.cpu(), "A": self.A.cpu(), "A_inv": self.A_inv.cpu(), "pc": self.pc.cpu(), "ps": self.ps.cpu(),
            "shift": shift.cpu(), "sigma": torch.tensor(self.sigma, dtype=torch.float64), "generation": torch.tensor(self.generation),
            "tpa_state": torch.tensor(self.tpa_state, dtype=torch.float64),
        }

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Continue from a :meth:`state` of a search of the same dimensions."""
        shapes = {"mean": (self.n,), "A": (self.n, self.n), "A_inv": (self.n, self.n), "pc": (self.n,), "ps": (self.n,), "shift": (self.n,)}
        for name, shape in shapes.items():
            if name not in state or tuple(state[name].shape) != shape:
                raise InvertnetError(f"the saved CMA-ES state's {name} is not {shape}: it is another search's")
        if not all(torch.isfinite(state[name]).all() for name in shapes):
            raise InvertnetError("the saved CMA-ES state holds non-finite values")
        self.mean, self.A, self.A_inv, self.pc, self.ps = (state[name].to(self.mean) for name in ("mean", "A", "A_inv", "pc", "ps"))
        self.sigma, self.generation, self.tpa_state = float(state["sigma"]), int(state["generation"]), float(state["tpa_state"])
        self._shift = state["shift"].to(self.mean) if self.generation > 0 else None
        if not (self.sigma > 0 and math.isfinite(self.sigma)) or not math.isfinite(self.tpa_state):
            raise InvertnetError("the saved CMA-ES state holds a step size that is not a positive number")
