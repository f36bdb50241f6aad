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
Cholesky CMA-ES that makes 4096 dimensions cheap (Hansen's constants, or XDream's with
``cma_variant="xdream"``). Its start: the same code, step size 3 (their ``init_sigma`` for fc6).

``ga`` is XDream's genetic algorithm (:mod:`.genetic`, its published settings), from a population of
N(0, 1) codes drawn from the seed.

``cma`` and ``ga`` see only scores, so the score may come from outside the process (:mod:`.external`); a
score with ``whole_generation`` set gets each generation at once, a network's gets it in batches. Their
state after each generation (``checkpoint``) lets a stopped search go on exactly as it would have
(``resume``); a scorer that fails stops the search with :class:`SearchStopped`, which holds the
generations so far.

Both keep the best image seen. Its activation is measured on the image as written: the generator's output
clipped to [0, 1] (the gradient passes through the clip unchanged).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..errors import InvertnetError, named
from .cmaes import VARIANTS, CholeskyCMAES
from .genetic import GeneticAlgorithm, GeneticSettings
from .targets import Score

METHODS = ("gradient", "cma", "ga")
POPULATION_METHODS = ("cma", "ga")
"""The methods that need only scores (no gradient): they take scores from outside the process too."""


def step_name(method: str) -> str:
    """What one round of ``method`` is called in pictures and messages: an iteration (gradient) or a generation."""
    return "iteration" if method == "gradient" else "generation"
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
    """cma: codes per generation [4 + 3 ln n]; ga: [XDream's 20]."""
    cma_variant: str = "hansen"
    genetic: GeneticSettings = field(default_factory=GeneticSettings)
    """ga: XDream's settings (its population is replaced by ``population`` when that is given)."""
    snapshots: int = 8
    """How many images of the strip: the best so far at evenly spaced iterations."""
    batch_size: int = 32
    """cma, ga: images per forward pass within a generation."""

    def check(self) -> None:
        if self.method not in METHODS:
            raise InvertnetError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise InvertnetError(f"{named('iterations')} must be between 1 and {MAX_ITERATIONS:,}, got {self.iterations}")
        if not 0 < self.decay <= 1:
            raise InvertnetError(f"the code's decay (decay) must be in (0, 1], got {self.decay}")
        if self.population is not None and not 2 <= self.population <= MAX_POPULATION:
            raise InvertnetError(f"{named('population')} must be between 2 and {MAX_POPULATION:,}, got {self.population:,}")
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise InvertnetError(f"{named('sigma')}, the initial step size, must be a positive number, got {self.sigma}")
        if self.cma_variant not in VARIANTS:
            raise InvertnetError(f"unknown CMA-ES variant {self.cma_variant!r} ({named('cma_variant')}): choose one of {', '.join(VARIANTS)}")
        self.genetic_settings().check()

    def genetic_settings(self) -> GeneticSettings:
        """The genetic algorithm's settings, with ``population`` if given."""
        return self.genetic if self.population is None else dataclasses.replace(self.genetic, population=self.population)


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


class SearchStopped(InvertnetError):
    """A search that could not go on (its scorer failed): ``result`` holds the generations so far (None before the first)."""

    def __init__(self, message: str, result: SearchResult | None) -> None:
        super().__init__(message)
        self.result = result


Generation = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]
"""on_generation(iteration from 0, codes, images as scored, scores): after each generation is scored."""
State = dict[str, torch.Tensor]


def synthesize(
    decode: Decode, score: Score, code: torch.Tensor, config: SearchConfig, *, lower: torch.Tensor | None = None,
    upper: torch.Tensor | None = None, on_iteration: Callable[[int, float], None] | None = None,
    on_generation: Generation | None = None, checkpoint: Callable[[State], None] | None = None, resume: State | None = None,
) -> SearchResult:
    """Search the code space of ``decode`` from ``code`` (1, *shape) for the image ``score`` rates highest.

    cma and ga: ``on_generation`` sees every image scored, ``checkpoint`` gets the search's whole state after each
    generation, and ``resume`` (such a state) continues a stopped search as if it had never stopped."""
    config.check()
    if config.method == "gradient":
        if on_generation is not None or checkpoint is not None or resume is not None:
            raise InvertnetError("the gradient method keeps no per-generation state: on_generation, checkpoint and resume are cma's and ga's")
        return _gradient(decode, score, code, config, lower, upper, on_iteration)
    return _population(decode, score, code, config, lower, upper, on_iteration, on_generation, checkpoint, resume)


class _Tracker:
    """The best image so far, the curves, and the strip's snapshots."""

    def __init__(self, config: SearchConfig) -> None:
        self.result: SearchResult | None = None
        self.config = config
        steps = config.iterations
        self.snapshot_at = {round(k * (steps - 1) / max(1, config.snapshots - 1)) for k in range(config.snapshots)} if config.snapshots else set()
        self.scored = 0

    def see(self, iteration: int, images: torch.Tensor, codes: torch.Tensor, scores: torch.Tensor) -> None:
        scores = scores.detach().double().cpu()  # a score from outside keeps all its digits
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

    def state(self) -> dict[str, torch.Tensor]:
        r = self.done()
        snapshots = torch.stack([image for _, image in r.snapshots]) if r.snapshots else torch.zeros(0, *r.image.shape)
        return {
            "best.image": r.image, "best.code": r.code, "best.activation": torch.tensor(r.activation, dtype=torch.float64),
            "best.iteration": torch.tensor(r.iteration), "curve.best": torch.tensor(r.best, dtype=torch.float64),
            "curve.mean": torch.tensor(r.mean, dtype=torch.float64), "curve.evaluations": torch.tensor(r.evaluations),
            "snapshots.iterations": torch.tensor([k for k, _ in r.snapshots], dtype=torch.int64), "snapshots.images": snapshots,
        }

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        r = SearchResult(state["best.image"], state["best.code"], float(state["best.activation"]), int(state["best.iteration"]))
        r.best, r.mean = state["curve.best"].tolist(), state["curve.mean"].tolist()
        r.evaluations = [int(v) for v in state["curve.evaluations"].tolist()]
        r.snapshots = list(zip((int(k) for k in state["snapshots.iterations"].tolist()), state["snapshots.images"]))
        if not len(r.best) == len(r.mean) == len(r.evaluations) or not math.isfinite(r.activation):
            raise InvertnetError("the saved search state is damaged: its curves differ in length or its best score is not finite")
        self.result, self.scored = r, r.evaluations[-1] if r.evaluations else 0


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


def _optimiser(code: torch.Tensor, config: SearchConfig, generator: torch.Generator) -> CholeskyCMAES | GeneticAlgorithm:
    if config.method == "cma":
        return CholeskyCMAES(code.flatten(), config.sigma, config.population, generator, variant=config.cma_variant)
    return GeneticAlgorithm(code.numel(), config.genetic_settings(), generator, code.device)


def score_generation(decode: Decode, score: Score, codes: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``codes`` as written and their scores: a network's in batches, an outside scorer's
    (``whole_generation``) on the whole generation at once."""
    with torch.no_grad():
        images = [shown(decode, chunk) for chunk in codes.split(batch_size)]
        if getattr(score, "whole_generation", False):
            everything = torch.cat(images)
            return everything, score(everything).double()
        return torch.cat(images), torch.cat([score(chunk).double() for chunk in images])


def _population(
    decode: Decode, score: Score, code: torch.Tensor, config: SearchConfig, lower: torch.Tensor | None, upper: torch.Tensor | None,
    on_iteration: Callable[[int, float], None] | None, on_generation: Generation | None, checkpoint: Callable[[State], None] | None,
    resume: State | None,
) -> SearchResult:
    tracker = _Tracker(config)
    shape = code.shape[1:]
    generator = torch.Generator().manual_seed(config.seed)
    search = _optimiser(code, config, generator)
    start = 0
    if resume is not None:
        start = _restore(resume, search, generator, tracker, config)
    for i in range(start, config.iterations):
        candidates = search.ask()
        codes = clip(candidates.to(code.dtype).view(-1, *shape).to(code.device), lower, upper)
        try:
            images, scores = score_generation(decode, score, codes, config.batch_size)
        except InvertnetError as error:
            raise SearchStopped(error.message, tracker.result) from None
        tracker.see(i, images, codes, scores)
        if on_generation is not None:
            on_generation(i, codes, images, scores)
        search.tell(scores)
        if checkpoint is not None:
            checkpoint(_state(search, generator, tracker, i + 1))
        if on_iteration is not None:
            on_iteration(i + 1, tracker.done().activation)
    return tracker.done()


def _state(search: CholeskyCMAES | GeneticAlgorithm, generator: torch.Generator, tracker: _Tracker, done: int) -> State:
    """Everything that decides the rest of a search: the optimiser, the random generator, the best so far, the curves."""
    return {
        **{f"optimiser.{name}": value for name, value in search.state().items()},
        "random": generator.get_state(), "done": torch.tensor(done), **tracker.state(),
    }


def _restore(state: State, search: CholeskyCMAES | GeneticAlgorithm, generator: torch.Generator, tracker: _Tracker, config: SearchConfig) -> int:
    """Load a :func:`_state` into a fresh search; returns the generations it had done."""
    try:
        search.load_state({name.split(".", 1)[1]: value for name, value in state.items() if name.startswith("optimiser.")})
        generator.set_state(state["random"])
        tracker.load_state(state)
        done = int(state["done"])
    except (KeyError, RuntimeError, ValueError) as error:
        raise InvertnetError(f"the saved search state is incomplete or damaged ({error})") from None
    if done < 1:
        raise InvertnetError(f"the saved search state is damaged: it says {done} generations were done")
    if done > config.iterations:
        raise InvertnetError(f"the saved search had done {done} generations, more than --iterations {config.iterations}: give at least {done}")
    return done
