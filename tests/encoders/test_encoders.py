"""Encoders: CaffeNet through ``--alexnet`` (random, a file, the cached reference), its geometry everywhere."""

import hashlib
from pathlib import Path

import pytest
import torch
from published_formats import write_caffemodel
from safetensors.torch import save_file

from invertnet import encoders
from invertnet.cli import main
from invertnet.data.datasets import eval_crop, train_crop, train_crops
from invertnet.encoders import EncoderSpec, input_size, load_encoder, loadable_spec
from invertnet.encoders.caffenet import CaffeNet, random_caffenet
from invertnet.errors import InvertnetError
from invertnet.models import build_generator
from invertnet.training import TrainConfig, Trainer
from invertnet.training.losses import build_comparator


def test_specs_name_their_family_and_size():
    assert input_size("caffenet") == input_size("caffenet:random:3") == input_size("caffenet:/x.caffemodel") == 227
    assert input_size("imagenet") == input_size("random:0") == input_size("/some/encoder.pth") == 224
    assert EncoderSpec.parse("caffenet:random:007").value == "random:7"
    for bad in ("caffenet:random:x", "caffenet:random:-1", "caffenet:random:²", "caffenet:"):
        with pytest.raises(InvertnetError, match="--encoder"):
            EncoderSpec.parse(bad)
    assert loadable_spec("caffenet:random:2") == "caffenet:random:2" and loadable_spec("caffenet") == "caffenet"
    assert loadable_spec("caffenet:file:0123") is None and loadable_spec("file:0123") is None


def test_random_caffenet_is_deterministic_and_227():
    net = load_encoder("caffenet:random:0")
    assert isinstance(net, CaffeNet) and net.identity == "caffenet:random:0" and net.input_size == 227
    images = torch.rand(2, 3, 227, 227, generator=torch.Generator().manual_seed(0))
    again = load_encoder("caffenet:random:0")
    torch.testing.assert_close(net(images, "fc6"), again(images, "fc6"), rtol=0, atol=0)
    assert not torch.equal(net(images, "fc6"), load_encoder("caffenet:random:1")(images, "fc6"))
    with pytest.raises(InvertnetError, match="227x227"):
        net(torch.rand(1, 3, 224, 224), "fc6")


@pytest.mark.xdist_group("big_temp")
def test_caffenet_from_files(tmp_path):
    net = random_caffenet(4)
    images = torch.rand(1, 3, 227, 227, generator=torch.Generator().manual_seed(1))
    write_caffemodel(tmp_path / "net.caffemodel", net, legacy=True)
    from_caffe = load_encoder(f"caffenet:{tmp_path / 'net.caffemodel'}")
    assert from_caffe.identity.startswith("caffenet:file:")
    torch.testing.assert_close(from_caffe(images, "fc8"), net(images, "fc8"))
    save_file(net.state_dict(), str(tmp_path / "net.safetensors"))
    torch.testing.assert_close(load_encoder(f"caffenet:{tmp_path / 'net.safetensors'}")(images, "conv5"), net(images, "conv5"))
    save_file({"features.0.weight": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InvertnetError, match="CaffeNet weights in .*other.safetensors do not fit CaffeNet with invertnet's key names"):
        load_encoder(f"caffenet:{tmp_path / 'other.safetensors'}")
    with pytest.raises(InvertnetError, match="not found"):
        load_encoder(f"caffenet:{tmp_path / 'missing.caffemodel'}")


def _serve_caffenet(tmp_path, monkeypatch) -> tuple[Path, str]:
    """A CaffeNet .caffemodel behind a file:// URL, with its SHA-1 as the published one, and a fresh TORCH_HOME."""
    source = tmp_path / "served" / "bvlc_reference_caffenet.caffemodel"
    source.parent.mkdir()
    write_caffemodel(source, random_caffenet(5), legacy=True)
    sha1 = hashlib.sha1(source.read_bytes()).hexdigest()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(encoders, "CAFFENET_URL", source.as_uri())
    monkeypatch.setattr(encoders, "CAFFENET_SHA1", sha1)
    monkeypatch.setattr(encoders, "CAFFENET_PORT_URL", (source.parent / "caffenet.pt").as_uri())  # not served: no network in tests
    return source, sha1


def test_caffenet_is_downloaded_once_checked_and_reused(tmp_path, monkeypatch):
    source, _ = _serve_caffenet(tmp_path, monkeypatch)
    monkeypatch.setenv("INVERTNET_OFFLINE", "1")
    with pytest.raises(InvertnetError, match=r"INVERTNET_OFFLINE is set; put one of these files there by hand .*\n  zoo: file:\S+/bvlc_reference_caffenet.caffemodel\n      at \S+/bvlc_reference_caffenet.caffemodel\n  hf: "):
        load_encoder("caffenet")
    monkeypatch.setenv("INVERTNET_OFFLINE", "0")
    net = load_encoder("caffenet")
    cached = encoders.caffenet_cache_path()
    assert net.identity == "caffenet" and cached.read_bytes() == source.read_bytes()
    source.unlink()  # from now on the cache alone
    monkeypatch.setenv("INVERTNET_OFFLINE", "1")
    assert load_encoder("caffenet").identity == "caffenet"
    assert load_encoder(f"caffenet:{cached}").identity == "caffenet"  # the reference by its path: the authors' generators fit it
    cached.write_bytes(cached.read_bytes()[:-4])
    with pytest.raises(InvertnetError, match="its SHA-1 is not"):
        load_encoder("caffenet")


def test_a_download_that_is_not_caffenet_is_refused_and_removed(tmp_path, monkeypatch):
    _serve_caffenet(tmp_path, monkeypatch)
    monkeypatch.setattr(encoders, "CAFFENET_SHA1", "0" * 40)
    monkeypatch.setenv("INVERTNET_OFFLINE", "0")
    with pytest.raises(InvertnetError, match=r"zoo failed: the download is not CaffeNet \(its SHA-1 is not the published 0000.*removed it"):
        load_encoder("caffenet")
    assert not encoders.caffenet_cache_path().exists()


def test_everything_takes_the_encoder_s_geometry():
    caffenet = load_encoder("caffenet:random:0")
    generator = build_generator("fc6", caffenet).eval()
    features = torch.relu(torch.randn(1, 4096, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        full, crop = generator.full(features), generator(features)
    assert crop.shape == (1, 3, 227, 227)
    torch.testing.assert_close(crop, full[..., 14:241, 14:241])  # Caffe's test-phase center crop: (256 - 227) // 2
    torch.testing.assert_close(generator.mean.flatten(), torch.tensor([123.0, 117.0, 104.0]))
    comparator = build_comparator("random-conv5", caffenet)
    assert isinstance(comparator.network, CaffeNet) and comparator.network.identity == "caffenet:random:1"
    image = torch.rand(3, 300, 400)
    assert eval_crop(image, 227).shape == (3, 227, 227) and train_crop(image, torch.Generator(), 227).shape == (3, 227, 227)
    assert train_crops(image[None].expand(2, -1, -1, -1), [1, 2], 227).shape == (2, 3, 227, 227)


def test_training_against_caffenet_then_inverting_with_its_encoder(tmp_path, image_files):
    out = tmp_path / "run"
    config = TrainConfig(layer="conv5", data="synthetic", out=str(out), steps=2, batch_size=2, encoder="caffenet:random:0", device="cpu", workers=0)
    result = Trainer(config).run()
    assert result.step == 2
    target = tmp_path / "recon.png"
    assert main(["invert", str(image_files[0]), "--layer", "conv5", "--weights", str(out), "--out", str(target)]) == 0  # no --alexnet: the run's
    from PIL import Image

    assert Image.open(target).size == (227, 227)
    assert main(["invert", str(image_files[0]), "--layer", "conv5", "--weights", str(out), "--alexnet", "random:0", "--out", str(target)]) == 1
