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


def test_encoders_from_files_are_the_files_and_draw_nothing(tmp_path, encoder):
    from safetensors.torch import save_file

    from invertnet.encoders import load_encoder
    from invertnet.encoders.caffenet import caffenet_from_state_dict, random_caffenet

    path = tmp_path / "alexnet.safetensors"
    save_file({name: value.contiguous() for name, value in encoder.state_dict().items()}, path)  # torchvision's keys
    caffenet = random_caffenet(0)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    loaded = [load_encoder(str(path)), caffenet_from_state_dict(caffenet.state_dict(), "caffenet:test")]
    assert torch.equal(torch.rand(3), expected)
    for network, reference in zip(loaded, (encoder, caffenet)):
        assert all(torch.equal(network.state_dict()[name], value) for name, value in reference.state_dict().items())
    images = torch.rand(1, 3, 227, 227)
    with torch.no_grad():
        assert torch.equal(loaded[1](images, "fc8"), caffenet(images, "fc8"))  # its mean buffer is built as ever
