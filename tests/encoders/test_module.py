"""Any torch.nn.Module as an encoder: its submodules as layers, its preprocessing, an identity that follows its weights,
and the same training, resuming and inverting as the built-in encoders."""

import pytest
import torch
from torch import nn

from invertnet.encoders import ModuleEncoder, layer_shapes
from invertnet.errors import InvertnetError
from invertnet.inversion import Inverter
from invertnet.training import TrainConfig, Trainer


class Net(nn.Module):
    """A lab's small network: 64 x 64 RGB -> an 8 x 8 map -> a vector; ``late`` must never run when only ``block`` is asked for."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 16, 3, stride=4, padding=1), nn.ReLU())
        self.late = nn.Linear(16 * 8 * 8, 10)
        self.late_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.stem(x))
        self.late_calls += 1
        return self.late(x.flatten(1))


def test_layers_shapes_and_preprocessing():
    net = Net()
    encoder = ModuleEncoder(net, ["stem", "block", "late"], input_size=64, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert encoder.feature_shapes() == layer_shapes(encoder) == {"stem": (8, 32, 32), "block": (16, 8, 8), "late": (10,)}
    assert encoder.comparator_layer == "block"  # the middle one of its maps
    images = torch.rand(2, 3, 64, 64)
    x = (images - 0.5) / 0.25
    torch.testing.assert_close(encoder(images, "block"), net.block(net.stem(x)))
    torch.testing.assert_close(encoder(images, "late"), net(x))
    assert encoder.generator_mean == (127.5, 127.5, 127.5) and not any(p.requires_grad for p in encoder.parameters())
    own = ModuleEncoder(Net(), ["block"], input_size=64, preprocess=lambda images: images * 2 - 1)
    torch.testing.assert_close(own(images, "block"), net.block(net.stem(images * 2 - 1)))


def test_the_pass_stops_at_the_deepest_layer_asked_for():
    net = Net()
    encoder = ModuleEncoder(net, ["stem", "block", "late"], input_size=64)
    before = net.late_calls
    encoder(torch.rand(1, 3, 64, 64), ("stem", "block"))
    assert net.late_calls == before  # forward stopped inside, before the line that counts


def test_the_identity_follows_the_weights():
    first, second = ModuleEncoder(Net(), ["block"], input_size=64), ModuleEncoder(Net(), ["block"], input_size=64)
    assert first.identity == second.identity and first.identity.startswith("module:Net:")
    changed = Net()
    with torch.no_grad():
        changed.block[0].bias += 1
    assert ModuleEncoder(changed, ["block"], input_size=64).identity != first.identity


@pytest.mark.parametrize(
    "layers, kwargs, message",
    [(["nope"], {}, "no submodule 'nope'"), ([], {}, "no submodule '\\(none given\\)'"), (["block"], {"comparator_layer": "x"}, "has no layer 'x'")],
)
def test_refusals(layers, kwargs, message):
    with pytest.raises(InvertnetError, match=message):
        ModuleEncoder(Net(), layers, input_size=64, **kwargs)


def test_a_module_trains_resumes_and_inverts(tmp_path):
    encoder = ModuleEncoder(Net(), ["stem", "block", "late"], input_size=64, comparator_layer="stem")
    config = TrainConfig(layer="block", data="synthetic", out=str(tmp_path / "run"), steps=2, batch_size=2, device="cpu", workers=0)
    Trainer(config, encoder=encoder).run()
    saved = Trainer.resume(tmp_path / "run", steps=3, encoder=encoder)
    assert saved.step == 2 and saved.config.encoder == encoder.identity and saved.loss.comparator == "stem"
    saved.run()
    inverter = Inverter.load(None, tmp_path / "run", encoder=encoder, device="cpu")
    images = torch.rand(2, 3, 64, 64)
    assert inverter.layer == "block" and inverter.invert(images).shape == (2, 3, 64, 64)
    with pytest.raises(InvertnetError, match="not 'module:Net:"):
        changed = Net()
        with torch.no_grad():
            changed.stem[0].bias += 1
        Inverter.load(None, tmp_path / "run", encoder=ModuleEncoder(changed, ["block"], input_size=64), device="cpu")
    decoder = Inverter.load_generator(tmp_path / "run", device="cpu")  # no module needed: the file records the geometry
    torch.testing.assert_close(decoder.generate(inverter.features(images)), inverter.invert(images))
