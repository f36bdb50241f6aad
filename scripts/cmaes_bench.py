"""``synthesize --method cma``'s CMA-ES against the reference, Hansen's pycma (``cma``), on the same budget: the distance
still to go after G generations on four problems, and seconds per generation (docs/results.md, "Synthesis").

    python3 -m pip install cma      # only for this measurement; invertnet does not depend on it
    python3 scripts/cmaes_bench.py                       # the four problems, 200 generations, both variants
    python3 scripts/cmaes_bench.py --problems sphere-4096-s3 --generations 50

Every optimiser minimises the same function from the same start (a standard normal draw, seeded), with the same
population (Hansen's default, 4 + 3 ln n) and initial step size. The distance to go is f(best point scored) - f(optimum)
(pycma minimises; ours maximises -f: the same ranking); "x pycma" is ours over pycma's, lower is better, and the goal
(issue 35) is at most 1.2 on each problem. The problems:

- ``sphere-4096-s3``: |x - x*|² in 4096 dimensions (fc6's code size), x* = N(0, 1) + 1, sigma 3 (XDream's step for fc6).
- ``sphere-4096-s0.3``: the same, sigma 0.3.
- ``rosenbrock-64``: sum 100 (x_{i+1} - x_i²)² + (1 - x_i)² in 64 dimensions, sigma 0.5.
- ``ellipsoid-256``: sum 10^(4 i / (n - 1)) x_i² in 256 dimensions (condition 1e4), sigma 1.

Seconds per generation are the optimiser's own (the functions cost nothing), after one warm-up generation.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from invertnet.synthesis.cmaes import VARIANTS, CholeskyCMAES, default_population

Function = Callable[[np.ndarray], np.ndarray]
"""points (k, n) -> values (k,), to minimise."""


@dataclass(frozen=True)
class Problem:
    name: str
    dimensions: int
    sigma: float
    function: Function
    optimum_value: float


def _sphere(n: int) -> Function:
    optimum = np.random.default_rng(1).standard_normal(n) + 1
    return lambda x: ((x - optimum) ** 2).sum(-1)


def _rosenbrock(x: np.ndarray) -> np.ndarray:
    return (100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2).sum(-1)


def _ellipsoid(n: int) -> Function:
    scales = 10 ** (4 * np.arange(n) / (n - 1))
    return lambda x: (scales * x**2).sum(-1)


PROBLEMS = {
    p.name: p
    for p in (
        Problem("sphere-4096-s3", 4096, 3.0, _sphere(4096), 0.0),
        Problem("sphere-4096-s0.3", 4096, 0.3, _sphere(4096), 0.0),
        Problem("rosenbrock-64", 64, 0.5, _rosenbrock, 0.0),
        Problem("ellipsoid-256", 256, 1.0, _ellipsoid(256), 0.0),
    )
}


def run(ask: Callable[[], np.ndarray], tell: Callable[[np.ndarray, np.ndarray], None], problem: Problem, generations: int) -> tuple[float, float]:
    """Seconds per generation (after one warm-up) and the distance to go after ``generations`` generations."""
    best, began = np.inf, 0.0
    for generation in range(generations):
        if generation == 1:
            began = time.perf_counter()
        points = ask()
        values = problem.function(points)
        tell(points, values)
        best = min(best, float(values.min()))
    return (time.perf_counter() - began) / max(1, generations - 1), best - problem.optimum_value


def ours(problem: Problem, start: np.ndarray, generations: int, seed: int, variant: str) -> tuple[float, float]:
    es = CholeskyCMAES(torch.from_numpy(start), problem.sigma, default_population(problem.dimensions),
                       generator=torch.Generator().manual_seed(seed), variant=variant)
    return run(lambda: es.ask().numpy(), lambda _, values: es.tell(torch.from_numpy(-values)), problem, generations)


def pycma(problem: Problem, start: np.ndarray, generations: int, seed: int) -> tuple[float, float]:
    import cma

    options = {"popsize": default_population(problem.dimensions), "seed": seed + 1, "verbose": -9, "tolfun": 0, "tolx": 0,
               "tolfunhist": 0, "tolstagnation": 10**9, "tolflatfitness": 10**9}
    es = cma.CMAEvolutionStrategy(start, problem.sigma, options)
    return run(lambda: np.asarray(es.ask()), lambda points, values: es.tell(list(points), list(values)), problem, generations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=1, help="Runs per optimiser and problem (seeds 0..N-1): the median is reported.")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
    import cma

    warnings.filterwarnings("ignore", module="cma")
    print(f"{args.generations} generations, {args.seeds} seed(s), median; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"cma {cma.__version__}, numpy {np.__version__}")
    print("| problem | optimiser | distance to go | x pycma | s / generation | x pycma's time |")
    print("|---|---|---:|---:|---:|---:|")
    for problem in (PROBLEMS[name] for name in args.problems):
        rows: dict[str, tuple[float, float]] = {}
        for label, solve in (("pycma", lambda s, x: pycma(problem, x, args.generations, s)),
                             *((f"invertnet {v}", lambda s, x, v=v: ours(problem, x, args.generations, s, v)) for v in args.variants)):
            results = [solve(seed, np.random.default_rng(100 + seed).standard_normal(problem.dimensions)) for seed in range(args.seeds)]
            rows[label] = (float(np.median([r[0] for r in results])), float(np.median([r[1] for r in results])))
        reference_seconds, reference_gap = rows["pycma"]
        for label, (seconds, gap) in rows.items():
            print(f"| {problem.name} | {label} | {gap:.4g} | {gap / reference_gap:.2f} | {seconds:.4f} | {seconds / reference_seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
