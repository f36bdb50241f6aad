"""Both searches raise the target on a tiny generator and encoder, respect the code's bounds, and repeat with a seed."""

import math

import pytest
import torch

from invertnet.errors import InvertnetError
from invertnet.synthesis import GeneticSettings, SearchConfig, start_code, synthesize
from invertnet.synthesis.cmaes import default_population
from invertnet.synthesis.reference import code_bounds, read_bound_file


class TinyGenerator(torch.nn.Module):
    """A code of 16 numbers -> a 3x16x16 image: linear, then a sigmoid-free squash into about [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(16, 3 * 16 * 16)

    def forward(self, codes):
        return (0.5 + 0.25 * torch.tanh(self.linear(codes))).view(-1, 3, 16, 16)


TINY = TinyGenerator().requires_grad_(False)
PATTERN = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1)) - 0.5


def score(images):
    """A 'neuron': how much an image looks like a fixed pattern."""
    return (images * PATTERN).flatten(1).sum(1)


@pytest.mark.parametrize("method, iterations", [("gradient", 60), ("cma", 60)])
def test_the_search_raises_the_target(method, iterations):
    code = start_code((16,), 0, None, None)
    result = synthesize(TINY, score, code, SearchConfig(method=method, iterations=iterations, sigma=1.0, decay=1.0, start_lr=0.5, end_lr=0.01))
    start = float(score(TINY(code)))
    assert result.best[-1] == result.activation > start + 1.0
    assert all(b2 >= b1 for b1, b2 in zip(result.best, result.best[1:]))  # best so far never falls
    assert float(score(result.image[None])) == pytest.approx(result.activation, abs=1e-4)  # the image kept is the one scored
    assert len(result.best) == len(result.mean) == iterations and result.snapshots[-1][0] == iterations - 1
    assert result.evaluations[-1] == iterations * (1 if method == "gradient" else default_population(16))  # one image, or a generation


def test_gradient_curve_rises_on_the_tiny_generator():
    result = synthesize(TINY, score, start_code((16,), 1, None, None), SearchConfig(iterations=40, start_lr=0.3, end_lr=0.01, decay=1.0))
    assert result.mean[-1] > result.mean[0] + 1.0  # the activation of the current image climbs


@pytest.mark.parametrize("method", ["gradient", "cma"])
def test_the_code_stays_within_its_bounds(method):
    lower, upper = torch.zeros(1, 16), torch.full((1, 16), 0.3)
    seen = []

    def decode(codes):
        seen.append(codes.detach().clone())
        return TINY(codes)

    synthesize(decode, score, start_code((16,), 0, lower, upper), SearchConfig(method=method, iterations=15, sigma=2.0), lower=lower, upper=upper)
    codes = torch.cat(seen)
    assert codes.min() >= 0 and codes.max() <= 0.3 + 1e-6


@pytest.mark.parametrize("method", ["gradient", "cma"])
def test_the_same_seed_gives_the_same_image(method):
    runs = [synthesize(TINY, score, start_code((16,), seed, None, None), SearchConfig(method=method, iterations=10, seed=seed)) for seed in (5, 5, 6)]
    assert torch.equal(runs[0].image, runs[1].image) and not torch.equal(runs[0].image, runs[2].image)


def test_settings_are_checked():
    for config, message in ((SearchConfig(method="magic"), "unknown method"), (SearchConfig(iterations=0), r"iterations \(--iterations\) must be"),
                            (SearchConfig(population=1), r"population \(--population\) must be between 2 and 10,000, got 1"),
                            (SearchConfig(population=10_001), "must be between 2 and 10,000, got 10,001"),
                            (SearchConfig(method="cma", sigma=math.nan), r"sigma \(--sigma\), the initial step size, must be a positive number, got nan"),
                            (SearchConfig(method="cma", sigma=0.0), "must be a positive number, got 0.0"),
                            (SearchConfig(method="cma", cma_variant="pycma"), r"unknown CMA-ES variant 'pycma' \(cma_variant \(--cma-variant\)\)"),
                            (SearchConfig(method="ga", genetic=GeneticSettings(mutation_rate=2.0)), "mutation rate must be in")):
        with pytest.raises(InvertnetError, match=message):
            synthesize(TINY, score, torch.zeros(1, 16), config)


def test_bounds_from_natural_codes_and_from_the_authors_file(tmp_path):
    codes = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    lower, upper = code_bounds(codes)
    assert torch.equal(lower, torch.zeros(1, 2)) and torch.allclose(upper, torch.tensor([[2.0 + 3 * 2.0, 3.0 + 3 * 2.0]]))
    path = tmp_path / "fc6.txt"
    path.write_text("12 11 13 13\n")  # act_range/3x/fc6.txt's format: one line of numbers
    assert torch.equal(read_bound_file(path, (4,)), torch.tensor([[12.0, 11.0, 13.0, 13.0]]))
    with pytest.raises(InvertnetError, match="3 numbers, but the code has 4 units"):
        path.write_text("1 2 3")
        read_bound_file(path, (4,))
    with pytest.raises(InvertnetError, match="not a bound file"):
        path.write_text("1 2 x 4")
        read_bound_file(path, (4,))


@pytest.mark.parametrize("method", ["gradient", "cma"])
def test_a_non_finite_score_stops_the_search(method):
    calls = []

    def flaky(images):  # the last image of the third call scores NaN
        calls.append(len(images))
        scores = score(images)
        return torch.where(torch.arange(len(scores)) == len(scores) - 1, math.nan, scores) if len(calls) == 3 else scores

    last = 4 if method == "cma" else 1
    with pytest.raises(InvertnetError, match=rf"image {last} of iteration 3 scored nan \(after {2 * last + last - 1} images scored finitely\): "
                                             "a search needs finite scores"):
        synthesize(TINY, flaky, start_code((16,), 0, None, None), SearchConfig(method=method, iterations=5, population=4 if method == "cma" else None))
    with pytest.raises(InvertnetError, match="image 1 of iteration 1 scored inf"):
        synthesize(TINY, lambda images: score(images) + math.inf, torch.zeros(1, 16), SearchConfig(method=method, iterations=2, population=4 if method == "cma" else None))


def test_cma_refuses_a_population_that_cannot_fit_before_allocating(monkeypatch):
    from invertnet.synthesis import cmaes

    assert cmaes.memory_needed(4096, 28) == 8 * (2 * 4096 * 4096 + 2 * 28 * 4096)  # A and its inverse, z and the samples
    monkeypatch.setattr(cmaes, "free_memory", lambda device: 100 << 20)  # 100 MiB free
    with pytest.raises(InvertnetError, match=r"4,096 dimensions with a population of 28 needs about 0.3 GiB, and cpu has 0.1 GiB free: "
                                             r"use a smaller population \(--population\)"):
        cmaes.CholeskyCMAES(torch.zeros(4096), 3.0, 28)
    assert cmaes.CholeskyCMAES(torch.zeros(1000), 3.0, 28).population == 28  # 16 MB fits


def test_out_of_memory_advice_names_only_the_command_s_flags():
    from invertnet.cli import out_of_memory

    assert "--batch-size" in out_of_memory("train") and "--batch-size" in out_of_memory("eval")
    assert "--population" in out_of_memory("synthesize") and "--batch-size" not in out_of_memory("synthesize")
    assert "--" not in out_of_memory("invert") and "--" not in out_of_memory(None)
