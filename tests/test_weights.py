"""The authors' generators: Caffe generator files and the release zip converted exactly, fetched once through a
file:// URL into a temporary TORCH_HOME, corrupted downloads refused; imports, defaults and the CLI end to end."""

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from invertnet import weights
from invertnet.checkpoint import load_checkpoint
from invertnet.cli import main
from invertnet.errors import InvertnetError
from invertnet.inversion import Inverter, resolve_weights
from invertnet.upconvgan import generator_from_upconvgan
from test_authors_models import _blob, _field, port_generator


def write_generator_caffemodel(path: Path, state: dict[str, torch.Tensor], conv_as: str = "Deconvolution", head_names: str = "R",
                               deconv_biases: bool = True) -> None:
    """A Caffe generator.caffemodel (``layer`` format) from the port's layout: Rconv* (or conv6-8) Convolution, deconv*
    Deconvolution, conv*_1 as ``conv_as`` (a Convolution stores the flipped, transposed kernel), defc* InnerProduct."""
    message = b""
    for name in dict.fromkeys(key.rsplit(".", 1)[0] for key in state):
        weight, bias = state[f"{name}.weight"], state[f"{name}.bias"]
        if name.startswith("defc"):
            kind = "InnerProduct"
        elif name.startswith("Rconv"):
            kind = "Convolution"
        elif name.startswith("deconv"):
            kind = "Deconvolution"
        else:
            kind = conv_as
            if conv_as == "Convolution":
                weight = weight.transpose(0, 1).flip(2, 3)
        blobs = [weight] + ([bias] if deconv_biases or not name.startswith("deconv") else [])
        caffe_name = name if head_names == "R" or not name.startswith("Rconv") else name[1:]
        body = _field(1, caffe_name.encode()) + _field(2, kind.encode()) + b"".join(_field(7, _blob(blob, legacy=False)) for blob in blobs)
        message += _field(100, body)
    path.write_bytes(_field(1, b"generator") + message)


@pytest.fixture(scope="module")
def port_conv5():
    return port_generator("pool5").state_dict()


def _same(a, b, features):
    with torch.no_grad():
        torch.testing.assert_close(a.eval().full(features), b.eval().full(features), rtol=0, atol=1e-3)


FEATURES = torch.relu(torch.randn(1, 256, 6, 6, generator=torch.Generator().manual_seed(2)))


@pytest.mark.parametrize("conv_as, head_names, deconv_biases", [("Deconvolution", "R", True), ("Convolution", "plain", False)])
def test_a_caffe_generator_converts_like_the_port(tmp_path, port_conv5, conv_as, head_names, deconv_biases):
    write_generator_caffemodel(tmp_path / "generator.caffemodel", port_conv5, conv_as, head_names, deconv_biases)
    _same(weights.read_generator(tmp_path / "generator.caffemodel", "conv5"), generator_from_upconvgan(port_conv5, "conv5"), FEATURES)


def test_a_file_that_is_not_the_generator_is_refused(tmp_path, port_conv5):
    write_generator_caffemodel(tmp_path / "generator.caffemodel", port_conv5)
    with pytest.raises(InvertnetError, match="not the authors' fc6 generator: it has no layer defc7"):
        weights.read_generator(tmp_path / "generator.caffemodel", "fc6")
    (tmp_path / "g.bin").write_bytes(b"x")
    with pytest.raises(InvertnetError, match="cannot tell the format"):
        weights.read_generator(tmp_path / "g.bin", "conv5")
    (tmp_path / "evil.pt").write_bytes(b"\x80\x02cos\nsystem\n.")  # a pickle that would call a function: never unpickled
    with pytest.raises(InvertnetError, match="cannot read"):
        weights.read_generator(tmp_path / "evil.pt", "conv5")


def write_release(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """A zip laid out as the authors' release: release_deepsim_v0/pool5/generator.caffemodel (and a prototxt)."""
    caffemodel = path.parent / "generator.caffemodel"
    write_generator_caffemodel(caffemodel, state)
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(caffemodel, "release_deepsim_v0/pool5/generator.caffemodel")
        archive.writestr("release_deepsim_v0/pool5/generator.prototxt", "name: 'generator'\n")
    caffemodel.unlink()
    return path


@pytest.fixture
def served_release(tmp_path, monkeypatch, port_conv5):
    """The release zip behind a file:// URL, and an empty TORCH_HOME."""
    (tmp_path / "served").mkdir()
    release = write_release(tmp_path / "served" / "release_deepsim_v0.zip", port_conv5)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("INVERTNET_WEIGHTS", str(tmp_path / "no-weights"))
    monkeypatch.setattr(weights, "RELEASE_URL", release.as_uri())
    monkeypatch.setenv("INVERTNET_OFFLINE", "0")
    return release


def test_deepsim_is_downloaded_converted_once_and_reused(served_release, port_conv5, monkeypatch):
    path = resolve_weights("deepsim:conv5", "conv5")
    assert path == weights.deepsim_path("conv5") and path.is_file()
    digest = hashlib.sha256(served_release.read_bytes()).hexdigest()
    checkpoint = load_checkpoint(path)
    assert checkpoint.layer == "conv5" and checkpoint.alexnet == "caffenet"
    source = json.loads(checkpoint.metadata["invertnet.source"])
    assert source == {"url": served_release.as_uri(), "member": "pool5/generator.caffemodel", "sha256": digest, "format": "release"}
    generator = weights.generator_from_release(weights.release_path(), "conv5")
    _same(generator, generator_from_upconvgan(port_conv5, "conv5"), FEATURES)
    monkeypatch.setattr(weights, "download", lambda *args, **kwargs: pytest.fail("downloaded twice"))
    assert resolve_weights("deepsim:conv5", "conv5") == path
    assert resolve_weights(None, "conv5") == path  # the default, once cached
    listed = {row.name: row for row in weights.known_weights(Path("/nowhere"))}
    assert listed["deepsim:conv5"].cached and listed["deepsim:conv5"].sha256 == digest
    assert listed["release_deepsim_v0.zip"].sha256 == digest and not listed["deepsim:fc6"].cached
    with pytest.raises(InvertnetError, match=r"holds no fc6/generator.caffemodel .*release_deepsim_v0/pool5/generator.caffemodel"):
        weights.fetch_deepsim("fc6")  # the zip is kept (it is not a fresh download): it is named, not removed
    assert weights.release_path().is_file()


def test_a_corrupted_download_is_refused_and_removed(served_release):
    served_release.write_bytes(served_release.read_bytes()[:1000])
    with pytest.raises(InvertnetError, match="is not the authors' release .*not a readable zip.*removed it"):
        resolve_weights("deepsim:conv5", "conv5")
    assert not weights.release_path().exists() and not weights.deepsim_path("conv5").exists()


def test_a_release_that_changed_since_its_first_download_is_refused(served_release):
    weights.cache_dir().mkdir(parents=True)
    (weights.cache_dir() / weights.SOURCES_FILE).write_text(json.dumps({served_release.as_uri(): "0" * 64}))
    with pytest.raises(InvertnetError, match="differs from the 0000000000000000... recorded when it was first downloaded.*removed it"):
        weights.fetch_deepsim("conv5")
    assert not weights.release_path().exists()


def test_offline_names_the_url_and_the_place(served_release, monkeypatch):
    monkeypatch.setenv("INVERTNET_OFFLINE", "1")
    where = str(weights.release_path())
    with pytest.raises(InvertnetError, match=f"INVERTNET_OFFLINE is set: download {served_release.as_uri()} and put it at {where}"):
        resolve_weights("deepsim:conv5", "conv5")
    with pytest.raises(InvertnetError, match="`invertnet weights fetch deepsim:fc7` downloads the authors'"):
        resolve_weights(None, "fc7")
    with pytest.raises(InvertnetError, match="the authors released generators for deepsim:conv5"):
        resolve_weights("deepsim:pool5", "conv5")


def test_import_then_invert_and_eval_with_a_random_caffenet(tmp_path, port_conv5, image_files, trained_run, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.save(port_conv5, tmp_path / "upconvGAN_pool5.pt")
    converted = tmp_path / "authors-conv5.safetensors"
    assert main(["weights", "import", str(tmp_path / "upconvGAN_pool5.pt"), "--layer", "conv5", "--out", str(converted), "--alexnet", "caffenet:random:0"]) == 0
    assert load_checkpoint(converted).alexnet == "caffenet:random:0"
    assert main(["weights", "import", str(tmp_path / "upconvGAN_pool5.pt"), "--layer", "conv5", "--alexnet", "caffenet:random:0"]) == 1
    assert "needs --out" in capsys.readouterr().err
    assert main(["weights", "import", str(tmp_path / "upconvGAN_pool5.pt"), "--layer", "conv5", "--out", str(tmp_path / "x.safetensors"), "--alexnet", "random:0"]) == 1
    assert "name a caffenet encoder" in capsys.readouterr().err
    target = tmp_path / "recon.png"
    assert main(["invert", str(image_files[0]), "--layer", "conv5", "--weights", str(converted), "--out", str(target)]) == 0
    assert Image.open(target).size == (227, 227)
    inverter = Inverter.load("conv5", converted)
    assert inverter.alexnet.identity == "caffenet:random:0" and inverter.input_size == 227
    capsys.readouterr()
    code = main(["eval", "--data", "synthetic", "--limit", "3", "--layer", "conv5", "--weights", str(converted), "--weights", str(trained_run),
                 "--json", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [r["alexnet"] for r in results] == ["caffenet:random:0", "random:0"]  # each against its own encoder
    assert all(0 < r["image_error"] < 5 for r in results)
    assert "caffenet:random:0" in capsys.readouterr().out
    code = main(["eval", "--data", "synthetic", "--limit", "3", "--layer", "conv5", "--weights", str(converted), "--weights", str(trained_run),
                 "--html", str(tmp_path / "report")])
    assert code == 1 and "different encoders" in capsys.readouterr().err


def test_weights_list_and_fetch_on_the_command_line(served_release, capsys, monkeypatch):
    assert main(["weights", "fetch", "deepsim:pool5"]) == 1
    assert "deepsim:conv5" in capsys.readouterr().err
    weights.fetch_deepsim("conv5")
    monkeypatch.setenv("INVERTNET_OFFLINE", "1")
    assert main(["weights", "fetch", "deepsim:conv5"]) == 1  # the generator is cached; CaffeNet cannot be had offline
    err = capsys.readouterr().err
    assert "bvlc_reference_caffenet.caffemodel" in err and weights.deepsim_path("conv5").is_file()
    assert main(["weights", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["deepsim:conv5"]["cached"] and rows["deepsim:conv5"]["encoder"] == "caffenet" and not rows["caffenet"]["cached"]
    assert rows["deepsim:conv5"]["source"].endswith("(pool5/generator.caffemodel)")
