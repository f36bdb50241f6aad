"""Why ``synthesize --method cma`` has its own CMA-ES: seconds per generation in fc6's 4096 dimensions, ours against
the ``cma`` library (Hansen's pycma), full and diagonal, in one run on the same machine (docs/results.md, "Synthesis").

    python3 -m pip install cma      # only for this measurement; invertnet does not depend on it
    python3 scripts/cmaes_bench.py --dimensions 4096 --generations 200

Each optimiser maximises the same shifted sphere, -|x - x*|^2 (the score costs nothing, so the time is the
optimiser's own), from the same start, with the same population (Hansen's default, 28 for 4096) and step size;
the table gives seconds per generation (after one warm-up generation), the ratio to ours, the score reached and
the step size at the end.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from invertnet.synthesis.cmaes import CholeskyCMAES, default_population


def sphere(x: np.ndarray, optimum: np.ndarray) -> np.ndarray:
    return -((x - optimum) ** 2).sum(-1)


def timed(
    ask: Callable[[], np.ndarray], tell: Callable[[np.ndarray, np.ndarray], None], optimum: np.ndarray, generations: int,
) -> tuple[float, float]:
    """Seconds per generation (after one warm-up generation) and the best score of ``generations`` + 1 generations."""
    best, began = -np.inf, 0.0
    for generation in range(generations + 1):
        if generation == 1:
            began = time.perf_counter()
        codes = ask()
        scores = sphere(codes, optimum)
        tell(codes, scores)
        best = max(best, float(scores.max()))
    return (time.perf_counter() - began) / generations, best


def ours(start: np.ndarray, optimum: np.ndarray, sigma: float, population: int, generations: int) -> tuple[float, float, float]:
    es = CholeskyCMAES(torch.from_numpy(start), sigma, population, generator=torch.Generator().manual_seed(0))
    seconds, best = timed(lambda: es.ask().numpy(), lambda _, scores: es.tell(torch.from_numpy(scores)), optimum, generations)
    return seconds, best, es.sigma


def library(
    start: np.ndarray, optimum: np.ndarray, sigma: float, population: int, generations: int, diagonal: bool,
) -> tuple[float, float, float]:
    import cma

    es = cma.CMAEvolutionStrategy(start, sigma, {"popsize": population, "seed": 1, "verbose": -9, "CMA_diagonal": diagonal})
    tell = lambda codes, scores: es.tell(list(codes), list(-scores))  # noqa: E731 (pycma minimises)
    seconds, best = timed(lambda: np.asarray(es.ask()), tell, optimum, generations)
    return seconds, best, float(es.sigma)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dimensions", type=int, default=4096)
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--sigma", type=float, default=3.0)
    args = parser.parse_args()
    import cma

    warnings.filterwarnings("ignore", module="cma")
    rng = np.random.default_rng(0)
    start, optimum = rng.standard_normal(args.dimensions), rng.standard_normal(args.dimensions) + 1
    population = default_population(args.dimensions)
    print(f"{args.dimensions} dimensions, population {population}, sigma {args.sigma}, {args.generations} generations, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), cma {cma.__version__}, numpy {np.__version__}")
    print(f"start score {float(sphere(start, optimum)):.4g}")
    rows = [("invertnet CholeskyCMAES (full covariance, rank-one)", ours(start, optimum, args.sigma, population, args.generations)),
            ("cma.CMAEvolutionStrategy, full covariance", library(start, optimum, args.sigma, population, args.generations, False)),
            ("cma.CMAEvolutionStrategy, CMA_diagonal", library(start, optimum, args.sigma, population, args.generations, True))]
    reference = rows[0][1][0]
    print("| optimiser | s / generation | x ours | best score | final step size |")
    print("|---|---:|---:|---:|---:|")
    for name, (seconds, best, step) in rows:
        print(f"| {name} | {seconds:.3f} | {seconds / reference:.1f} | {best:.4g} | {step:.3g} |")


if __name__ == "__main__":
    main()
