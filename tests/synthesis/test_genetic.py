"""XDream's genetic algorithm: elites kept, children made of their parents' elements, selection by fitness, seeded."""

import pytest
import torch

from invertnet.errors import InvertnetError
from invertnet.synthesis.genetic import GeneticAlgorithm, GeneticSettings


def test_the_defaults_are_xdreams_published_settings():
    assert GeneticSettings() == GeneticSettings(population=20, mutation_rate=0.5, mutation_size=0.5, selectivity=2.0, heritability=0.5, conserve=1)


def test_the_elites_stay_and_children_without_mutation_are_made_of_parents_elements():
    ga = GeneticAlgorithm(6, GeneticSettings(population=8, mutation_rate=0.0, conserve=2), torch.Generator().manual_seed(0))
    before = ga.ask().clone()
    scores = torch.arange(8, dtype=torch.float64)  # code 7 best, then 6
    ga.tell(scores)
    after = ga.ask()
    assert torch.equal(after[0], before[7]) and torch.equal(after[1], before[6])  # the two best, unchanged, best first
    for child in after[2:]:  # each element is some parent's element at that place
        assert all(bool((before[:, k] == child[k]).any()) for k in range(6))


def test_selectivity_concentrates_parentage_on_the_best():
    """With one code far above the others (its fitness exp(gap / kT) dwarfs theirs), children are all made from it."""
    ga = GeneticAlgorithm(4, GeneticSettings(population=10, mutation_rate=0.0, selectivity=50.0, conserve=0), torch.Generator().manual_seed(1))
    before = ga.ask().clone()
    scores = torch.zeros(10, dtype=torch.float64)
    scores[3] = 100.0
    scores[4] = 99.0  # the 95th-percentile clip brings the best to about this: two parents share the draws
    ga.tell(scores)
    assert all(bool(((child == before[3]) | (child == before[4])).all()) for child in ga.ask())


def test_mutation_rate_and_size():
    ga = GeneticAlgorithm(4000, GeneticSettings(population=2, mutation_rate=0.25, mutation_size=0.5, conserve=0), torch.Generator().manual_seed(2))
    parent = ga.ask()[0].clone()
    ga.codes = torch.stack([parent, parent])  # both parents the same code: every change is a mutation
    ga.tell(torch.tensor([1.0, 0.0]))
    change = ga.ask() - parent
    mutated = change != 0
    assert abs(float(mutated.double().mean()) - 0.25) < 0.02  # 8,000 draws: 3 standard deviations are 0.015
    assert abs(float(change[mutated].std()) - 0.5) < 0.03


def test_the_same_seed_gives_the_same_generations_and_it_climbs():
    def run(seed):
        ga = GeneticAlgorithm(16, GeneticSettings(), torch.Generator().manual_seed(seed))
        target = torch.linspace(-1, 1, 16, dtype=torch.float64)
        best = []
        for _ in range(60):
            scores = -((ga.ask() - target) ** 2).sum(1)
            best.append(float(scores.max()))
            ga.tell(scores)
        return ga.ask().clone(), best

    first, best = run(0)
    assert torch.equal(first, run(0)[0]) and not torch.equal(first, run(1)[0])
    assert best[-1] > best[0] / 4  # the distance to go falls to under a quarter


@pytest.mark.parametrize(
    ("settings", "message"),
    [(dict(mutation_rate=1.5), "mutation rate must be in"), (dict(heritability=0.2), "heritability must be in"),
     (dict(conserve=20), "codes conserved must be from 0"), (dict(selectivity=0.0), "selectivity must be a positive")],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(InvertnetError, match=message):
        GeneticAlgorithm(4, GeneticSettings(**settings))
