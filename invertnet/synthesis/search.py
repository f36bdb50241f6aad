"""The two searches over a generator's code for the image that drives a unit hardest.

``gradient`` is DGN-AM (Nguyen et al., NIPS 2016): gradient ascent on the code through the generator and
the network. Its settings are the public code's for CaffeNet (Evolving-AI-Lab/synthesizing,
``1_activate_output.sh`` and ``act_max.py``): 200 iterations; a step of ``lr / mean|g| * g`` (their image step
followed by their code step is this step on the code, as both normalise by the mean absolute gradient); ``lr``
falling linearly from 8 to 1e-10 over the iterations; after each step the code clipped to [0, upper bound]
(0: fc6 is rectified; the upper bound per unit, their ``--bound`` file) and multiplied by 0.99 (their ``L2``);
a start code drawn from N(0, 1) with the seed.

``cma`` is XDream (Ponce et al., Cell 2019) as Wang & Ponce run it today: CMA-ES on the code with a
population per generation, the unit a black box (only its scores are used); :mod:`.cmaes` is the
Cholesky CMA-ES that makes 4096 dimensions cheap. Its start: the same code, step size 3 (their
``init_sigma`` for fc6).

Both keep the best image seen. Its activation is measured on the image as written: the generator's output
clipped to [0, 1] (the gradient passes through the clip unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..errors import InvertnetError
from .cmaes import CholeskyCMAES
from .targets import Score

METHODS = ("gradient", "cma")
Decode = Callable[[torch.Tensor], torch.Tensor]
"""codes (N, *code_shape) -> images (N, 3, S, S), about [0, 1] (not clipped), differentiable."""
MAX_ITERATIONS = 100_000
MAX_POPULATION = 10_000
"""250 times XDream's 40 and 350 times Hansen's default for fc6 (28); what fits is checked again against free memory."""


@dataclass(frozen=True)
class SearchConfig:
    """How one search runs (each default's source in the module docstring)."""

    method: str = "gradient"
    iterations: int = 200
    seed: int = 0
    start_lr: float = 8.0
    end_lr: float = 1e-10
    decay: float = 0.99
    sigma: float = 3.0
    population: int | None = None
    snapshots: int = 8
    """How many images of the strip: the best so far at evenly spaced iterations."""
    batch_size: int = 32
    """cma: images per forward pass within a generation."""

    def check(self) -> None:
        if self.method not in METHODS:
            raise InvertnetError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise InvertnetError(f"--iterations must be between 1 and {MAX_ITERATIONS:,}, got {self.iterations}")
        if not 0 < self.decay <= 1:
            raise InvertnetError(f"the code's decay must be in (0, 1], got {self.decay}")
        if self.population is not None and not 2 <= self.population <= MAX_POPULATION:
            raise InvertnetError(f"the population (--population) must be between 2 and {MAX_POPULATION:,}, got {self.population:,}")
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise InvertnetError(f"the initial step size (--sigma) must be a positive number, got {self.sigma}")


@dataclass
class SearchResult:
    """The best image and code found, and how the activation went."""

    image: torch.Tensor
    code: torch.Tensor
    activation: float
    iteration: int
    best: list[float] = field(default_factory=list)
    """The best activation so far after each iteration (generation)."""
    mean: list[float] = field(default_factory=list)
    """The mean activation of each iteration's images (gradient: its one image)."""
    evaluations: list[int] = field(default_factory=list)
    """Images scored so far after each iteration."""
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)

    def evaluations_to_reach(self, value: float) -> int | None:
        """Images scored until the best activation first reached ``value`` (None: never)."""
        return next((n for n, best in zip(self.evaluations, self.best) if best >= value), None)


def start_code(shape: tuple[int, ...], seed: int, lower: torch.Tensor | None, upper: torch.Tensor | None) -> torch.Tensor:
    """DGN-AM's start: N(0, 1) drawn from ``seed`` (on the CPU, so every device starts alike), within the bounds."""
    code = torch.randn(1, *shape, generator=torch.Generator().manual_seed(seed))
    return clip(code, lower, upper)


def clip(code: torch.Tensor, lower: torch.Tensor | None, upper: torch.Tensor | None) -> torch.Tensor:
    if lower is not None:
        code = torch.maximum(code, lower.to(code))
    if upper is not None:
        code = torch.minimum(code, upper.to(code))
    return code


def shown(decode: Decode, codes: torch.Tensor) -> torch.Tensor:
    """The images as written (clipped to [0, 1]), with the gradient of the unclipped output."""
    images = decode(codes)
    return images + (images.clamp(0, 1) - images).detach()


def synthesize(
    decode: Decode, score: Score, code: torch.Tensor, config: SearchConfig, *, lower: torch.Tensor | None = None,
    upper: torch.Tensor | None = None, on_iteration: Callable[[int, float], None] | None = None,
) -> SearchResult:
    """Search the code space of ``decode`` from ``code`` (1, *shape) for the image ``score`` rates highest."""
    config.check()
    run = _gradient if config.method == "gradient" else _cma
    return run(decode, score, code, config, lower, upper, on_iteration)


class _Tracker:
    """The best image so far, the curves, and the strip's snapshots."""

    def __init__(self, config: SearchConfig) -> None:
        self.result: SearchResult | None = None
        self.config = config
        steps = config.iterations
        self.snapshot_at = {round(k * (steps - 1) / max(1, config.snapshots - 1)) for k in range(config.snapshots)} if config.snapshots else set()
        self.scored = 0

    def see(self, iteration: int, images: torch.Tensor, codes: torch.Tensor, scores: torch.Tensor) -> None:
        scores = scores.detach().float().cpu()
        broken = (~torch.isfinite(scores)).nonzero().flatten()
        if len(broken):  # a NaN cannot rank images: stop, rather than search on a score that means nothing
            image = int(broken[0])
            raise InvertnetError(
                f"image {image + 1} of iteration {iteration + 1} scored {float(scores[image])} (after {self.scored + image} images "
                "scored finitely): a search needs finite scores; does the target network give NaN or infinite outputs?"
            )
        index = int(scores.argmax())
        value = float(scores[index])
        self.scored += len(scores)
        if self.result is None or value > self.result.activation:
            image, code = images[index].detach().clamp(0, 1).cpu(), codes[index].detach().cpu()
            previous = self.result
            self.result = SearchResult(image, code, value, iteration)
            if previous is not None:
                self.result.best, self.result.mean = previous.best, previous.mean
                self.result.evaluations, self.result.snapshots = previous.evaluations, previous.snapshots
        result = self.result
        result.best.append(result.activation)
        result.mean.append(float(scores.mean()))
        result.evaluations.append(self.scored)
        if iteration in self.snapshot_at:
            result.snapshots.append((iteration, result.image))

    def done(self) -> SearchResult:
        assert self.result is not None
        return self.result


def _gradient(
    decode: Decode, score: Score, code: torch.Tensor, config: SearchConfig, lower: torch.Tensor | None, upper: torch.Tensor | None,
    on_iteration: Callable[[int, float], None] | None,
) -> SearchResult:
    tracker = _Tracker(config)
    code = code.detach().clone()
    for i in range(config.iterations):
        lr = config.start_lr + (config.end_lr - config.start_lr) * i / config.iterations
        code.requires_grad_(True)
        images = shown(decode, code)
        activation = score(images)
        (gradient,) = torch.autograd.grad(activation.sum(), code)
        tracker.see(i, images, code, activation)
        with torch.no_grad():
            scale = gradient.abs().mean()
            if torch.isfinite(scale) and scale > 0:
                code = code + lr / scale * gradient
            code = clip(code, lower, upper) * config.decay
        if on_iteration is not None:
            on_iteration(i + 1, tracker.done().activation)
    return tracker.done()


def _cma(
    decode: Decode, score: Score, code: torch.Tensor, config: SearchConfig, lower: torch.Tensor | None, upper: torch.Tensor | None,
    on_iteration: Callable[[int, float], None] | None,
) -> SearchResult:
    tracker = _Tracker(config)
    shape = code.shape[1:]
    search = CholeskyCMAES(code.flatten(), config.sigma, config.population, torch.Generator().manual_seed(config.seed))
    for i in range(config.iterations):
        candidates = search.ask()
        codes = clip(candidates.to(code.dtype).view(-1, *shape).to(code.device), lower, upper)
        with torch.no_grad():
            scores, images = [], []
            for chunk in codes.split(config.batch_size):  # one generation: batched generator and target passes
                shown_images = shown(decode, chunk)
                scores.append(score(shown_images).float())
                images.append(shown_images)
            all_scores = torch.cat(scores)
        tracker.see(i, torch.cat(images), codes, all_scores)
        search.tell(all_scores)
        if on_iteration is not None:
            on_iteration(i + 1, tracker.done().activation)
    return tracker.done()
