import pytest
import torch

from invertnet.data.datasets import DeadLeaves, eval_crop
from invertnet.encoders import load_encoder
from invertnet.errors import InvertnetError
from invertnet.evaluation.optimize import MahendranVedaldi, OptimizeConfig, total_variation


def test_total_variation_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [3.0, 1.0]]]])
    # forward differences, zero past the border: (0,0): dx 1, dy 3 -> 10; (0,1): dx 0, dy 0; (1,0): dx -2 -> 4; (1,1): 0
    assert total_variation(x, beta=2).item() == pytest.approx(14.0)
    assert total_variation(x, beta=1).item() == pytest.approx(10**0.5 + 2)


def test_default_schedule_is_the_authors(encoder):
    config = OptimizeConfig()
    assert config.iterations == 400 and config.learning_rate == 0.004
    caffenet = load_encoder("caffenet:random:0")  # deep-goggle: TV weight 1 for layers 1-6, 10 for 7-12, 100 for 13-20
    weights = {layer: MahendranVedaldi(caffenet, layer).lambda_tv for layer in ("norm1", "norm2", "conv3", "conv4", "conv5", "fc6", "fc8")}
    assert weights == {"norm1": 1, "norm2": 10, "conv3": 10, "conv4": 10, "conv5": 100, "fc6": 100, "fc8": 100}
    assert MahendranVedaldi(encoder, "fc7", OptimizeConfig(lambda_tv=3.0)).lambda_tv == 3.0
    assert config.beta == 6 and config.lambda_beta == 8e-10 and config.momentum == 0.9
    assert [count for count, _ in config.scaled(40).schedule] == [10, 20, 10]


def _objective(optimizer: MahendranVedaldi, images: torch.Tensor, target: torch.Tensor) -> float:
    x = images * 255 - optimizer.mean
    return optimizer._objective(x, target, target.pow(2).sum(1)).sum().item()


def test_optimisation_lowers_its_objective_and_fits_the_features(encoder):
    images = eval_crop(DeadLeaves("val").load(0))[None]
    target = encoder(images, "fc8")
    start_only = ((1, 0.0),)  # one step at rate 0: the initial noise
    optimizer = MahendranVedaldi(encoder, "fc8", OptimizeConfig().scaled(30))
    seen = []
    recon = optimizer.invert(images, on_iteration=lambda done, total: seen.append((done, total)))
    assert recon.shape == images.shape and 0 <= recon.min() and recon.max() <= 1 and seen[-1] == (30, 30)
    start = MahendranVedaldi(encoder, "fc8", OptimizeConfig(schedule=start_only)).invert(images)
    assert _objective(optimizer, recon, target) < 0.1 * _objective(optimizer, start, target)
    short = MahendranVedaldi(encoder, "fc8", OptimizeConfig().scaled(3))
    assert torch.equal(short.invert(images), short.invert(images))  # seeded: the same every time
    # without the priors, only the feature fit is left, and it must improve
    error = lambda r: ((encoder(r, "fc8") - target).norm(dim=1) / target.norm(dim=1)).mean().item()  # noqa: E731
    free = OptimizeConfig(lambda_tv=0.0, lambda_beta=0.0)
    assert error(MahendranVedaldi(encoder, "fc8", free.scaled(30)).invert(images)) < 0.6 * error(start)


@pytest.mark.parametrize("iterations", [0, 10**9])
def test_iterations_out_of_range_are_refused(iterations):
    with pytest.raises(InvertnetError, match="iterations must be between 1 and 100,000"):
        OptimizeConfig().scaled(iterations)
