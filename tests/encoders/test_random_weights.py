"""Random AlexNets are drawn once per process: a copy equals a fresh draw, is independent, and leaves the global RNG alone."""

import torch

from invertnet.encoders import load_encoder
from invertnet.encoders import random_weights
from invertnet.encoders.alexnet import _random_alexnet


def test_a_kept_random_alexnet_is_the_same_network_and_its_own_copy(monkeypatch):
    monkeypatch.setattr(random_weights, "_STATES", type(random_weights._STATES)())
    drawn = [load_encoder(spec) for spec in ("random:5", "random-torchvision:5")]
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    copies = [load_encoder(spec) for spec in ("random:5", "random-torchvision:5")]
    assert torch.equal(torch.rand(3), before)  # neither a draw nor a copy touches the global RNG
    for fresh, copy, kind in zip(drawn, copies, ("random", "random-torchvision")):
        reference = _random_alexnet(kind, 5).state_dict()
        assert all(torch.equal(copy.state_dict()[name], value) for name, value in reference.items())
        with torch.no_grad():
            copy.features[0].weight.add_(1)  # a copy shares no storage with the kept weights or the first network
        assert torch.equal(fresh.features[0].weight, reference["features.0.weight"])
    assert torch.equal(load_encoder("random:5").features[0].weight, drawn[0].features[0].weight)
    load_encoder("random:6")
    assert list(random_weights._STATES) == ["alexnet:random-torchvision:5", "alexnet:random:5", "alexnet:random:6"][-random_weights.KEPT :]


def test_a_kept_random_caffenet_is_the_same_network_and_draws_nothing_from_the_global_rng(monkeypatch):
    from invertnet.encoders.caffenet import random_caffenet

    monkeypatch.setattr(random_weights, "_STATES", type(random_weights._STATES)())
    torch.manual_seed(0)
    first = random_caffenet(2)
    after_draw = torch.rand(3)
    torch.manual_seed(0)
    second = random_caffenet(2)
    assert torch.equal(torch.rand(3), after_draw)
    assert all(torch.equal(value, second.state_dict()[name]) for name, value in first.state_dict().items())
    assert torch.equal(second.mean, first.mean) and second.identity == "caffenet:random:2"
    images = torch.rand(1, 3, 227, 227)
    assert torch.equal(first(images, "fc8"), second(images, "fc8"))
