import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from conftest import ALEXNET
from safetensors.torch import save_file

import invertnet
from invertnet.cli import main
from invertnet.errors import InvertnetError
from invertnet.inversion import Inverter, default_weights, resolve_weights, weights_dirs
from invertnet.weights.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def inverter(trained_run):
    return Inverter.load("conv5", trained_run, encoder=ALEXNET, device="cpu")


def test_invert_shapes_and_range(inverter):
    images = torch.rand(3, 3, 224, 224)
    recon = inverter.invert(images, batch_size=2)
    assert recon.shape == (3, 3, 224, 224) and recon.min() >= 0 and recon.max() <= 1
    assert torch.allclose(recon[:1], inverter.invert(images[:1]), atol=1e-5)  # batching changes only rounding


def test_reencode_chains_inversions(inverter):
    image = torch.rand(3, 224, 224)
    frames = inverter.reencode(image, 3)
    assert frames.shape == (4, 3, 224, 224) and torch.equal(frames[0], image)
    assert torch.allclose(frames[2], inverter.invert(frames[1:2])[0])
    with pytest.raises(InvertnetError):
        inverter.reencode(image, 0)


def test_interpolation_ends_are_the_reconstructions(inverter):
    a, b = torch.rand(3, 224, 224), torch.rand(3, 224, 224)
    frames = inverter.interpolate(a, b, 5)
    assert frames.shape == (5, 3, 224, 224)
    ends = inverter.invert(torch.stack([a, b]))
    assert torch.allclose(frames[0], ends[0], atol=1e-5) and torch.allclose(frames[-1], ends[1], atol=1e-5)
    midpoint = inverter.generate((inverter.features(a[None]) + inverter.features(b[None])) / 2)
    assert torch.allclose(frames[2], midpoint[0], atol=1e-5)


def test_weights_resolution(trained_run, tmp_path, monkeypatch):
    assert resolve_weights(trained_run, "conv5").name == "generator.safetensors"
    assert resolve_weights(trained_run / "checkpoint.safetensors", "conv5").name == "checkpoint.safetensors"
    monkeypatch.setenv("INVERTNET_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_weights("fc6") == tmp_path / "fc6.safetensors"
    with pytest.raises(InvertnetError, match="no generator for fc6: none in .* nor .*cache/invertnet nor the authors'"):
        resolve_weights(None, "fc6")
    with pytest.raises(InvertnetError, match="holds no generator"):
        resolve_weights(tmp_path, "fc6")


def test_refuses_other_layer_or_alexnet(trained_run):
    with pytest.raises(InvertnetError, match="inverts conv5, not fc6"):
        Inverter.load("fc6", trained_run, encoder=ALEXNET, device="cpu")
    with pytest.raises(InvertnetError, match="trained against the encoder 'random:0', not 'random:5'"):
        Inverter.load("conv5", trained_run, encoder="random:5", device="cpu")


def test_a_generator_with_nan_weights_is_refused(trained_run, tmp_path):
    checkpoint = load_checkpoint(trained_run / "generator.safetensors")
    poisoned = {k: v * float("nan") if k.endswith("weight") else v for k, v in checkpoint.tensors.items()}
    save_file(poisoned, tmp_path / "nan.safetensors", metadata=checkpoint.metadata)
    with pytest.raises(InvertnetError, match="NaN or infinite weights"):
        Inverter.load("conv5", tmp_path / "nan.safetensors", encoder=ALEXNET, device="cpu")


def test_default_weights_are_looked_up_in_order_never_in_the_source_tree(trained_run, tmp_path, monkeypatch):
    chosen, cache = tmp_path / "chosen", tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("INVERTNET_WEIGHTS", raising=False)
    assert weights_dirs() == [cache / "invertnet"]
    (cache / "invertnet").mkdir(parents=True)
    shutil.copy(trained_run / "generator.safetensors", cache / "invertnet" / "conv5.safetensors")
    assert resolve_weights(None, "conv5") == cache / "invertnet" / "conv5.safetensors"  # the user cache
    monkeypatch.setenv("INVERTNET_WEIGHTS", str(chosen))
    assert weights_dirs() == [chosen, cache / "invertnet"]
    assert resolve_weights(None, "conv5") == cache / "invertnet" / "conv5.safetensors"  # $INVERTNET_WEIGHTS has none: next
    chosen.mkdir()
    shutil.copy(trained_run / "generator.safetensors", chosen / "conv5.safetensors")
    assert resolve_weights(None, "conv5") == chosen / "conv5.safetensors"  # $INVERTNET_WEIGHTS first
    source_tree = Path(invertnet.__file__).resolve().parent.parent
    assert all(source_tree not in folder.parents and folder != source_tree / "weights" for folder in weights_dirs())


@pytest.mark.parametrize("kind", ["folder", "fifo", "device", "dangling"])
def test_something_else_at_a_default_location_is_named_not_passed_over(trained_run, pictures, tmp_path, monkeypatch, kind, capsys):
    chosen, cache = tmp_path / "chosen", tmp_path / "cache" / "invertnet"
    chosen.mkdir()
    cache.mkdir(parents=True)
    monkeypatch.setenv("INVERTNET_WEIGHTS", str(chosen))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))
    shutil.copy(trained_run / "generator.safetensors", cache / "conv5.safetensors")  # a later location that has one
    blocked = chosen / "conv5.safetensors"
    {"folder": blocked.mkdir, "fifo": lambda: os.mkfifo(blocked), "device": lambda: blocked.symlink_to("/dev/zero"),
     "dangling": lambda: blocked.symlink_to(tmp_path / "gone.safetensors")}[kind]()
    described = {"folder": "a folder", "fifo": "a FIFO (named pipe)", "device": "a character device", "dangling": "a link to nothing"}[kind]
    message = f"the default generator {blocked} is {described}"
    with pytest.raises(InvertnetError, match=re.escape(message) + ".*: remove it, or pass --weights"):
        resolve_weights(None, "conv5")
    assert main(["invert", *map(str, pictures), "--layer", "conv5", "--encoder", ALEXNET, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "out").exists()
    blocked.unlink() if kind != "folder" else blocked.rmdir()
    assert resolve_weights(None, "conv5") == cache / "conv5.safetensors"  # nothing there: the next location


def test_something_else_in_a_run_folder_is_named(trained_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(trained_run / "checkpoint.safetensors", run)
    os.mkfifo(run / "generator.safetensors")
    with pytest.raises(InvertnetError, match=r"the run's \S+generator.safetensors is a FIFO \(named pipe\), not a regular file: remove it from"):
        resolve_weights(run, "conv5")


@pytest.mark.parametrize(
    "images, message",
    [(torch.full((1, 3, 224, 224), 255.0), "divide 0-255 images by 255"), (torch.full((1, 3, 224, 224), -0.5), "got values from -0.5"),
     (torch.zeros(1, 3, 224, 224, dtype=torch.uint8), "images.float\\(\\) / 255")],
)
def test_the_python_api_checks_the_value_range(trained_run, images, message):
    inverter = Inverter.load("conv5", trained_run, encoder=ALEXNET, device="cpu")
    with pytest.raises(InvertnetError, match=message):
        inverter.invert(images)
    assert inverter.invert(torch.full((1, 3, 224, 224), 1.0005)).shape == (1, 3, 224, 224)  # resampling overshoot is tolerated
