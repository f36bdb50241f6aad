"""The population searches (cma, ga) as a library: every image scored is seen, a stopped search resumes exactly, and
a scorer that fails stops it with the generations so far."""

import pytest
import torch

from invertnet.errors import InvertnetError
from invertnet.synthesis import SearchConfig, SearchStopped, synthesize

MIX = torch.randn(8, 3 * 6 * 6, generator=torch.Generator().manual_seed(0))


def decode(codes):
    """A stand-in generator: 8-d codes to 6x6 images in (0, 1)."""
    return torch.sigmoid(codes.flatten(1).float() @ MIX).view(-1, 3, 6, 6)


def redness(images):
    return images[:, 0].mean((1, 2)) - images[:, 1:].mean((1, 2, 3))


class Whole:
    """A scorer from outside: it sees each generation at once, and can fail at one."""

    whole_generation = True

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, images):
        self.calls += 1
        if self.calls == self.fail_at:
            raise InvertnetError("the rig went dark")
        return redness(images)


@pytest.mark.parametrize("method", ["cma", "ga"])
def test_every_image_is_seen_once_and_the_search_climbs(method):
    seen = []
    config = SearchConfig(method=method, iterations=12, population=6, sigma=1.0, seed=3)
    result = synthesize(decode, Whole(), torch.zeros(1, 8), config, on_generation=lambda i, codes, images, scores: seen.append((i, scores)))
    assert [i for i, _ in seen] == list(range(12)) and all(len(scores) == 6 for _, scores in seen)
    assert result.evaluations[-1] == 72 and result.activation == max(float(s.max()) for _, s in seen)
    assert result.best[-1] > result.best[0]


@pytest.mark.parametrize(("method", "variant"), [("cma", "hansen"), ("cma", "xdream"), ("ga", "hansen")])
def test_a_stopped_search_resumes_to_the_uninterrupted_result(method, variant):
    config = SearchConfig(method=method, iterations=8, population=6, sigma=1.0, seed=5, cma_variant=variant)
    straight = synthesize(decode, Whole(), torch.zeros(1, 8), config)
    states = []
    with pytest.raises(SearchStopped, match="the rig went dark") as stopped:
        synthesize(decode, Whole(fail_at=4), torch.zeros(1, 8), config, checkpoint=states.append)
    assert len(states) == 3 and len(stopped.value.result.best) == 3  # three generations scored and kept
    resumed = synthesize(decode, Whole(), torch.zeros(1, 8), config, resume=states[-1])
    assert torch.equal(resumed.code, straight.code) and resumed.activation == straight.activation
    assert resumed.best == straight.best and resumed.evaluations == straight.evaluations and resumed.mean == straight.mean


def test_a_network_score_is_given_the_generation_in_batches_and_an_outside_score_all_at_once():
    sizes = []

    def network(images):
        sizes.append(len(images))
        return redness(images)

    synthesize(decode, network, torch.zeros(1, 8), SearchConfig(method="ga", iterations=1, population=10, batch_size=4))
    assert sizes == [4, 4, 2]
    network.whole_generation = True  # what an outside scorer says of itself
    sizes.clear()
    synthesize(decode, network, torch.zeros(1, 8), SearchConfig(method="ga", iterations=1, population=10, batch_size=4))
    assert sizes == [10]


def test_resume_refuses_a_state_beyond_the_iterations():
    config = SearchConfig(method="ga", iterations=3, population=4)
    states = []
    synthesize(decode, Whole(), torch.zeros(1, 8), config, checkpoint=states.append)
    with pytest.raises(InvertnetError, match="had done 3 generations, more than --iterations 2"):
        synthesize(decode, Whole(), torch.zeros(1, 8), SearchConfig(method="ga", iterations=2, population=4), resume=states[-1])
    with pytest.raises(InvertnetError, match="keeps no per-generation state"):
        synthesize(decode, redness, torch.zeros(1, 8), SearchConfig(method="gradient", iterations=2), resume=states[-1])


def test_two_point_adaptation_resumes_exactly_too():
    """From 300 dimensions up the step size follows two mirrored points along the mean's last step: state to carry."""
    mix = torch.randn(320, 3 * 4 * 4, generator=torch.Generator().manual_seed(1))

    def wide(codes):
        return torch.sigmoid(codes.flatten(1).float() @ mix / 18).view(-1, 3, 4, 4)

    config = SearchConfig(method="cma", iterations=6, population=8, sigma=1.0, seed=2)
    straight = synthesize(wide, Whole(), torch.zeros(1, 320), config)
    states = []
    with pytest.raises(SearchStopped):
        synthesize(wide, Whole(fail_at=4), torch.zeros(1, 320), config, checkpoint=states.append)
    assert float(states[-1]["optimiser.tpa_state"]) != 0  # the two points were used
    resumed = synthesize(wide, Whole(), torch.zeros(1, 320), config, resume=states[-1])
    assert torch.equal(resumed.code, straight.code) and resumed.best == straight.best
