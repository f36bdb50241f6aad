import hashlib
import os
import urllib.error
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import alexnet as tv_alexnet

from invertnet.encoders import alexnet as alexnet_module
from invertnet.encoders.alexnet import CAFFENET_ONLY_LAYERS, FEATURE_SHAPES, TRAINABLE_LAYERS, load_alexnet
from invertnet.errors import InvertnetError


def test_every_tap_has_its_shape(encoder):
    images = torch.rand(2, 3, 224, 224)
    features = encoder(images, TRAINABLE_LAYERS)
    for layer in TRAINABLE_LAYERS:
        assert features[layer].shape == (2, *FEATURE_SHAPES[layer])
        assert torch.equal(encoder(images, layer), features[layer])
    for layer in CAFFENET_ONLY_LAYERS:
        with pytest.raises(InvertnetError, match=f"torchvision's AlexNet has no {layer} tap .*--encoder caffenet"):
            encoder(images, layer)


def test_taps_match_torchvision_forward(encoder):
    images = torch.rand(2, 3, 224, 224)
    normalised = (images - encoder.mean) / encoder.std
    reference = tv_alexnet()
    reference.load_state_dict({**encoder.state_dict()})
    reference.eval()
    with torch.no_grad():
        assert torch.allclose(encoder(images, "fc8"), reference(normalised), atol=1e-5)
        assert torch.allclose(encoder(images, "conv5"), reference.features(normalised), atol=1e-6)
        relu6 = reference.classifier[:3](torch.flatten(reference.features(normalised), 1))
        assert torch.allclose(encoder(images, "fc6"), relu6, atol=1e-5)
    assert (encoder(images, "fc6") >= 0).all() and (encoder(images, "fc7") >= 0).all()


def test_random_weights_are_deterministic_and_seeded():
    a, b, c = load_alexnet("random:0"), load_alexnet("random:0"), load_alexnet("random:1")
    assert a.identity == "random:0"
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.features[0].weight, c.features[0].weight)


def test_random_weights_are_variance_preserving():
    net = load_alexnet("random:0")
    for module in [*net.features, *net.classifier]:
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = module.weight[0].numel()
            assert module.weight.var().item() == pytest.approx(2 / fan_in, rel=0.1) and not module.bias.any()
    # the activations keep the input's scale; torchvision's own init lets them vanish
    images = torch.rand(4, 3, 224, 224)
    old = load_alexnet("random-torchvision:0")
    assert old.identity == "random-torchvision:0"
    for layer in ("conv5", "fc6", "fc7"):
        assert net(images, layer).pow(2).mean().sqrt().item() > 1.0 and old(images, layer).pow(2).mean().sqrt().item() < 0.1


def test_torchvision_init_is_torchvision_s_own():
    torch.manual_seed(3)
    reference = tv_alexnet()
    assert torch.equal(load_alexnet("random-torchvision:3").classifier[6].weight, reference.classifier[6].weight)


def test_frozen_and_in_eval_mode(encoder):
    encoder.train()
    assert not encoder.training and not encoder.classifier[0].training
    assert not any(p.requires_grad for p in encoder.parameters())


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_from_a_file(tmp_path, encoder, suffix):
    path = tmp_path / f"alexnet{suffix}"
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    loaded = load_alexnet(str(path))
    assert loaded.identity.startswith("file:") and len(loaded.identity) == 5 + 16
    images = torch.rand(1, 3, 224, 224)
    assert torch.equal(loaded(images, "fc7"), encoder(images, "fc7"))


def test_missing_imagenet_weights_name_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(InvertnetError) as error:
        load_alexnet("imagenet")
    message = str(error.value)
    assert "alexnet-owt-7be5be79.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message


def _plant(tmp_path, monkeypatch, payload) -> Path:
    """``payload`` saved in torch.hub's cache slot for the ImageNet AlexNet."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save(payload, path)
    return path


def test_imagenet_weights_load_from_the_torch_hub_cache(tmp_path, monkeypatch, encoder):
    path = _plant(tmp_path, monkeypatch, encoder.state_dict())  # a stand-in in the cache slot...
    monkeypatch.setattr(alexnet_module, "IMAGENET_SHA256_PREFIX", hashlib.sha256(path.read_bytes()).hexdigest()[:8])  # ...with its hash
    loaded = load_alexnet("imagenet")
    assert loaded.identity == "imagenet"
    assert torch.equal(loaded.features[0].weight, encoder.features[0].weight)


def test_a_cached_file_without_the_promised_hash_is_refused_unread(tmp_path, monkeypatch):
    _plant(tmp_path, monkeypatch, {"payload": _RunsCode(tmp_path)})
    with pytest.raises(InvertnetError, match="does not start with 7be5be79"):
        load_alexnet("imagenet")
    assert not (tmp_path / "CODE_RAN").exists()


def test_a_cached_pickle_is_never_unpickled_even_with_the_hash(tmp_path, monkeypatch):
    path = _plant(tmp_path, monkeypatch, {"payload": _RunsCode(tmp_path)})
    monkeypatch.setattr(alexnet_module, "IMAGENET_SHA256_PREFIX", hashlib.sha256(path.read_bytes()).hexdigest()[:8])
    with pytest.raises(InvertnetError, match="cannot read"):
        load_alexnet("imagenet")
    assert not (tmp_path / "CODE_RAN").exists()


class _RunsCode:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __reduce__(self):
        return (os.system, (f"touch {self.folder / 'CODE_RAN'}",))


@pytest.mark.parametrize(
    "spec, message",
    [("random:x", "integer from 0 to"), ("random:²", "integer from 0 to"), ("random:" + "9" * 5000, "integer from 0 to"), ("random-torchvision:-1", "integer from 0 to"), (f"random:{2**64}", "integer from 0 to"),
     ("/no/such/file.pth", "not found")],
)
def test_bad_specs(spec, message):
    with pytest.raises(InvertnetError, match=message):
        load_alexnet(spec)


def test_unknown_layer(encoder):
    with pytest.raises(InvertnetError, match="random:0 has no layer 'fc9'; its layers: conv5 256x6x6, fc6 4096"):
        encoder(torch.rand(1, 3, 224, 224), "fc9")


def test_a_failed_download_reports_on_stderr_and_keeps_stdout_clean(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("INVERTNET_OFFLINE")

    def unreachable(url, *args, **kwargs):
        print(f'Downloading: "{url}"')  # what torch.hub prints before it fails offline
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(InvertnetError, match="cannot download torchvision's ImageNet AlexNet weights"):
        load_alexnet("imagenet")
    out, err = capsys.readouterr()
    assert out == "" and "Downloading" in err
