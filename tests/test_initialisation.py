"""Networks built to be loaded draw no initial weights, and torch's initialisers come back afterwards."""

import pytest
import torch
from torch import nn

from invertnet.initialisation import INITIALISERS, no_default_init
from invertnet.inversion import generator_from_checkpoint
from invertnet.models.generator import Generator
from invertnet.weights.checkpoint import load_checkpoint


def test_a_network_built_uninitialised_draws_nothing_and_the_initialisers_come_back():
    originals = {name: getattr(nn.init, name) for name in INITIALISERS}
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    with no_default_init():
        Generator("fc8", width=8)
    assert torch.equal(torch.rand(3), expected)  # neither torch's defaults nor the He init drew
    assert {name: getattr(nn.init, name) for name in INITIALISERS} == originals
    with pytest.raises(RuntimeError, match="boom"), no_default_init():
        raise RuntimeError("boom")
    assert {name: getattr(nn.init, name) for name in INITIALISERS} == originals  # restored after an error too


def test_every_initialiser_a_generator_calls_is_covered(monkeypatch):
    called = set()
    for name in dir(nn.init):
        function = getattr(nn.init, name)
        if name.endswith("_") and not name.startswith("_") and callable(function):
            monkeypatch.setattr(nn.init, name, lambda tensor, *a, _name=name, _f=function, **k: called.add(_name) or _f(tensor, *a, **k))
    Generator("fc8", width=8)
    Generator("conv5")
    assert called and called <= set(INITIALISERS)


def test_a_loaded_generator_is_the_files(trained_run, encoder):
    checkpoint = load_checkpoint(trained_run / "generator.safetensors")
    loaded = generator_from_checkpoint(checkpoint, encoder)
    stored = checkpoint.module_state("generator")
    assert loaded.state_dict().keys() == stored.keys() and all(torch.equal(loaded.state_dict()[k], stored[k]) for k in stored)
    assert torch.equal(loaded.mean, Generator("conv5").mean)  # the buffer a file does not hold is built as ever
