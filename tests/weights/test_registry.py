"""The authors' models from their sources: port files (every model) and the release zip through file:// URLs into a
temporary TORCH_HOME, tried in order with fallback, trust on first use, --source, offline errors; Caffe generator
files converted exactly; imports, defaults and the CLI end to end (figure layers with every layer's generator)."""

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from PIL import Image
from published_formats import port_features, port_generator, port_state, write_generator_caffemodel, write_port_caffenet, write_release
from torch import nn

from invertnet import encoders
from invertnet.cli import main
from invertnet.encoders.caffenet import random_caffenet
from invertnet.data.captions import LINE
from invertnet.errors import InvertnetError
from invertnet.inversion import Inverter, generator_from_checkpoint, resolve_weights
from invertnet.weights import registry as weights
from invertnet.weights.checkpoint import load_checkpoint
from invertnet.weights.upconvgan import convert_upconvgan, generator_from_upconvgan


@pytest.fixture(scope="module")
def ports():
    """The port's generators with random weights, one per layout (fc6's serves fc6, fc6_eucl and fc7; fc8's serves prob)."""
    return {}


def port_net(ports, port: str) -> nn.Sequential:
    layout = {"fc7": "fc6", "fc6_eucl": "fc6"}.get(port, port)
    if layout not in ports:
        ports[layout] = port_generator(layout)
    return ports[layout]


def _same(a, b, features):
    with torch.no_grad():
        torch.testing.assert_close(a.eval().full(features), b.eval().full(features), rtol=0, atol=1e-3)


@pytest.mark.parametrize("layer, swap, head_names, deconv_biases", [
    ("pool5", False, "R", True), ("pool5", True, "plain", False), ("norm1", False, "R", True), ("conv3", True, "R", True),
])
def test_a_caffe_generator_converts_like_the_port(tmp_path, ports, layer, swap, head_names, deconv_biases):
    net = port_net(ports, layer)
    write_generator_caffemodel(tmp_path / "generator.caffemodel", net, swap, head_names, deconv_biases)
    model = "conv5" if layer == "pool5" else layer
    converted = weights.read_generator(tmp_path / "generator.caffemodel", model)
    _same(converted, generator_from_upconvgan(net.state_dict(), converted.layer), port_features(layer, 1))


def test_a_file_that_is_not_the_generator_is_refused(tmp_path, ports):
    write_generator_caffemodel(tmp_path / "generator.caffemodel", port_net(ports, "pool5"))
    with pytest.raises(InvertnetError, match="the Caffe file .* is not the authors' fc6 generator: it has no layer defc7"):
        weights.read_generator(tmp_path / "generator.caffemodel", "fc6")
    state = port_net(ports, "pool5").state_dict()
    write_generator_caffemodel(tmp_path / "biased.caffemodel", port_net(ports, "pool5"))
    biased = port_generator("pool5")
    with torch.no_grad():
        biased.deconv5.bias.fill_(1.0)
    write_generator_caffemodel(tmp_path / "biased.caffemodel", biased)
    with pytest.raises(InvertnetError, match=r"the Caffe file \S*biased.caffemodel: deconv5 has non-zero biases"):  # named as what it is
        weights.read_generator(tmp_path / "biased.caffemodel", "conv5")
    (tmp_path / "g.bin").write_bytes(b"x")
    with pytest.raises(InvertnetError, match="cannot tell the format"):
        weights.read_generator(tmp_path / "g.bin", "conv5")
    (tmp_path / "evil.pt").write_bytes(b"\x80\x02cos\nsystem\n.")  # a pickle that would call a function: never unpickled
    with pytest.raises(InvertnetError, match="cannot read"):
        weights.read_generator(tmp_path / "evil.pt", "conv5")
    torch.save({**state, "Rconv6.weight": torch.zeros(3)}, tmp_path / "flat.pt")
    with pytest.raises(InvertnetError, match="Rconv6.weight is not a tensor of the right kind"):
        weights.read_generator(tmp_path / "flat.pt", "conv5")


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A folder served through file:// as the Hugging Face port and the release, and an empty TORCH_HOME."""
    folder = tmp_path / "served"
    folder.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("INVERTNET_WEIGHTS", str(tmp_path / "no-weights"))
    monkeypatch.setattr(weights, "PORT_URL", folder.as_uri() + "/")
    monkeypatch.setattr(weights, "RELEASE_URL", (folder / "release_deepsim_v0.zip").as_uri())
    monkeypatch.setenv("INVERTNET_OFFLINE", "0")
    return folder  # hundreds of MB: removed when the test passes (tmp_path_retention_policy)


def serve_port(folder: Path, ports, port: str) -> Path:
    """The port's file for ``port`` behind the file:// URL (fc7 and fc6_eucl: a hard link to fc6's when it is served)."""
    path, twin = folder / f"upconvGAN_{port}.pt", folder / "upconvGAN_fc6.pt"
    if port in ("fc7", "fc6_eucl") and twin.exists():
        os.link(twin, path)
    else:
        torch.save(port_state(port_net(ports, port), quirk=port.startswith("fc")), path)
    return path


@pytest.mark.xdist_group("big_temp")
@pytest.mark.parametrize("name", list(weights.AUTHORS_MODELS))
def test_every_model_comes_from_the_port_file(served, ports, name):
    model = weights.authors_model(name)
    port = serve_port(served, ports, model.port)
    path = weights.fetch_deepsim(name)
    assert path == weights.deepsim_path(name) and path.is_file()
    checkpoint = load_checkpoint(path)
    assert (checkpoint.layer, checkpoint.encoder) == (model.layer, "caffenet")
    assert json.loads(checkpoint.metadata["invertnet.source"]) == {
        "source": "hf", "url": port.as_uri(), "sha256": hashlib.sha256(port.read_bytes()).hexdigest(), "format": "upconvgan", "model": name}
    assert checkpoint.config["authors_model"] == name
    expected = convert_upconvgan(port_net(ports, model.port).state_dict(), model.layer)
    stored = checkpoint.module_state("generator")
    assert stored.keys() == expected.keys() and all(torch.equal(stored[key], expected[key]) for key in expected)
    if model.layer in ("norm1", "conv3", "conv5"):  # the file rebuilds the right network (the conversion itself: test_upconvgan)
        _same(generator_from_checkpoint(checkpoint, random_caffenet(0)), generator_from_upconvgan(port_net(ports, model.port).state_dict(), model.layer),
              port_features(model.port, 1))


def test_sources_are_tried_in_order_with_fallback_and_trust_on_first_use(served, ports, capsys):
    port = serve_port(served, ports, "pool5")
    write_release(served / "release_deepsim_v0.zip", port_net(ports, "pool5"))
    assert json.loads(load_checkpoint(weights.fetch_deepsim("conv5")).metadata["invertnet.source"])["source"] == "hf"  # first
    recorded = json.loads((weights.cache_dir() / "invertnet-sources.json").read_text())
    assert recorded[port.as_uri()] == hashlib.sha256(port.read_bytes()).hexdigest()
    # --source release takes it from the release, converting again
    source = json.loads(load_checkpoint(weights.fetch_deepsim("conv5", "release")).metadata["invertnet.source"])
    assert source["source"] == "release" and source["member"] == "pool5/generator.caffemodel"
    # a file already in the cache is used before any download: the release, cached above
    weights.deepsim_path("conv5").unlink()
    (weights.cache_dir() / port.name).unlink()
    assert json.loads(load_checkpoint(weights.fetch_deepsim("conv5")).metadata["invertnet.source"])["source"] == "release"
    # the port's file gone upstream, nothing cached: the release is downloaded, with a notice
    weights.deepsim_path("conv5").unlink()
    weights.release_path().unlink()
    port.unlink()
    capsys.readouterr()
    assert json.loads(load_checkpoint(weights.fetch_deepsim("conv5")).metadata["invertnet.source"])["source"] == "release"
    assert "hf failed" in capsys.readouterr().err
    # a port file that changed since it was first used is refused and removed; the release still serves
    torch.save(port_generator("pool5").state_dict() | {"Rconv6.bias": torch.ones(512)}, port)
    weights.deepsim_path("conv5").unlink()
    with pytest.raises(InvertnetError, match="hf failed: the download is not the authors' conv5 generator .*differs from the .* recorded.*removed it"):
        weights.fetch_deepsim("conv5", "hf")
    assert not (weights.cache_dir() / port.name).exists()
    with pytest.raises(InvertnetError, match="deepsim:norm1 has no release source .*its sources are hf"):
        weights.fetch_deepsim("norm1", "release")


@pytest.mark.parametrize("record", ["{not json", '["a list"]', '{"url": 7}', '{"url": "' + "z" * 64 + '"}', "fifo"])
def test_a_damaged_record_of_hashes_fails_closed(served, ports, capsys, record):
    port = serve_port(served, ports, "norm1")
    weights.fetch_deepsim("norm1")
    weights.deepsim_path("norm1").unlink()
    torch.save(port_generator("norm1").state_dict() | {"Rconv6.bias": torch.ones(128)}, port)  # changed upstream since first seen
    (weights.cache_dir() / port.name).unlink()
    path = weights.cache_dir() / "invertnet-sources.json"
    path.unlink()
    if record == "fifo":
        os.mkfifo(path)  # never opened: it would block
    else:
        path.write_text(record)
    with pytest.raises(InvertnetError, match=r"invertnet-sources.json, the record of each download's SHA-256 when first used, is damaged .*delete it"):
        weights.fetch_deepsim("norm1")  # not taken as "nothing recorded", which would accept the changed file
    assert not weights.deepsim_path("norm1").exists()
    assert main(["weights", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["weights"]}
    assert rows["hf:upconvGAN_norm1.pt"]["hash"] is None and "is damaged" in rows["hf:upconvGAN_norm1.pt"]["problem"]


def test_offline_names_every_source_and_its_place(served, monkeypatch):
    monkeypatch.setenv("INVERTNET_OFFLINE", "1")
    cache = weights.cache_dir()
    with pytest.raises(InvertnetError) as raised:
        resolve_weights("deepsim:conv5", "conv5")
    assert raised.value.message == ("the authors' conv5 generator is not in the cache and INVERTNET_OFFLINE is set; "
                                    "put one of these files there by hand (the folder follows TORCH_HOME)")
    assert raised.value.details == [f"hf: {served.as_uri()}/upconvGAN_pool5.pt", f"    at {cache}/upconvGAN_pool5.pt",
                                    f"release: {served.as_uri()}/release_deepsim_v0.zip", f"    at {cache}/release_deepsim_v0.zip",
                                    "or convert a copy you have: invertnet weights import FILE --as deepsim:conv5"]
    with pytest.raises(InvertnetError, match="`invertnet weights fetch deepsim:fc7` downloads the authors'"):
        resolve_weights(None, "fc7")
    with pytest.raises(InvertnetError, match="the authors released deepsim:norm1, .*deepsim:fc6_eucl"):
        resolve_weights("deepsim:pool5", "conv5")
    with pytest.raises(InvertnetError, match="--weights deepsim takes the authors' generator of --layer"):
        resolve_weights("deepsim", None)


def test_a_corrupted_download_is_refused_and_removed(served, ports):
    write_release(served / "release_deepsim_v0.zip", port_net(ports, "pool5"))
    (served / "release_deepsim_v0.zip").write_bytes((served / "release_deepsim_v0.zip").read_bytes()[:1000])
    with pytest.raises(InvertnetError, match="release failed: the download is not .*not a readable zip.*removed it"):
        weights.fetch_deepsim("conv5", "release")
    assert not weights.release_path().exists() and not weights.deepsim_path("conv5").exists()


def test_a_release_without_the_layer_names_what_it_has(served, ports):
    write_release(served / "release_deepsim_v0.zip", port_net(ports, "pool5"))
    weights.fetch_deepsim("conv5", "release")
    with pytest.raises(InvertnetError, match=r"holds no fc6/generator.caffemodel .*release_deepsim_v0/pool5/generator.caffemodel"):
        weights.fetch_deepsim("fc6", "release")
    assert weights.release_path().is_file()  # a cached file is named, not removed
    os.chmod(served, 0o555)  # a zip in a read-only folder converts (nothing is written beside it)
    try:
        out = served.parent / "converted.safetensors"
        assert weights.import_weights(served / "release_deepsim_v0.zip", "conv5", out=out) == out
    finally:
        os.chmod(served, 0o755)


@pytest.mark.xdist_group("big_temp")
def test_caffenet_comes_from_the_zoo_then_the_port(served, monkeypatch, capsys):
    net = random_caffenet(5)
    write_port_caffenet(served / "caffenet.pt", net, quirk=True)
    monkeypatch.setattr(encoders, "CAFFENET_URL", (served / "missing.caffemodel").as_uri())
    monkeypatch.setattr(encoders, "CAFFENET_PORT_URL", (served / "caffenet.pt").as_uri())
    source, loaded = encoders.reference_caffenet()
    assert source.name == "hf" and loaded.identity == "caffenet" and "zoo failed" in capsys.readouterr().err
    images = torch.rand(1, 3, 227, 227)
    with torch.no_grad():
        assert torch.equal(loaded(images, "norm2"), net(images, "norm2"))
    assert main(["weights", "fetch", "caffenet", "--source", "hf"]) == 0
    assert capsys.readouterr().out.strip() == str(weights.cache_dir() / "upconvGAN_caffenet.pt")
    monkeypatch.setenv("INVERTNET_OFFLINE", "1")
    with pytest.raises(InvertnetError, match=r"CaffeNet is not in the cache and INVERTNET_OFFLINE is set; put this file there by hand .*\n  zoo: \S+missing.caffemodel\n      at \S+bvlc_reference"):
        encoders.reference_caffenet("zoo")
    cached = weights.cache_dir() / "upconvGAN_caffenet.pt"
    cached.write_bytes(cached.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(InvertnetError, match="upconvGAN_caffenet.pt is not usable .*SHA-256 differs"):
        encoders.load_encoder("caffenet")
    assert main(["weights", "fetch", "caffenet", "--source", "release"]) == 1
    assert "caffenet has no release source" in capsys.readouterr().err
    assert main(["weights", "fetch", "deepsim", "--source", "release"]) == 1  # one per layer: norm1 first, which the release lacks
    assert "deepsim:norm1 has no release source" in capsys.readouterr().err


@pytest.mark.xdist_group("big_temp")
def test_figure_layers_with_every_authors_generator_from_the_port_alone(served, ports, image_files, monkeypatch, capsys, temp_budget):
    write_port_caffenet(served / "caffenet.pt", random_caffenet(1), quirk=True)
    monkeypatch.setattr(encoders, "CAFFENET_URL", (served / "bvlc_reference_caffenet.caffemodel").as_uri())  # the zoo: gone
    monkeypatch.setattr(encoders, "CAFFENET_PORT_URL", (served / "caffenet.pt").as_uri())
    with temp_budget.alone():  # 1.4 GB at the peak: CaffeNet, the converted generators, and fc7's port twice while it converts
        for model in ("fc8", *(name for name in weights.LAYER_MODELS if name != "fc8")):  # the largest first: less kept meanwhile
            port = serve_port(served, ports, weights.authors_model(model).port)
            if model == "fc8":  # the command line, CaffeNet with it (from the port: the zoo fails)
                assert main(["weights", "fetch", "deepsim:fc8"]) == 0, capsys.readouterr().err
                assert capsys.readouterr().out.split() == [str(weights.deepsim_path("fc8")), str(weights.cache_dir() / "upconvGAN_caffenet.pt")]
                (served / "caffenet.pt").unlink()  # cached now (0.24 GB): the served copy is no longer needed
            else:
                weights.fetch_deepsim(model)
            (weights.cache_dir() / port.name).unlink()  # the converted file is what runs: keep the disk small
            port.unlink()
    monkeypatch.setenv("INVERTNET_OFFLINE", "1")
    out = served.parent / "fig3.png"
    assert main(["figure", "layers", str(image_files[0]), "--weights", "deepsim", "--out", str(out)]) == 0, capsys.readouterr().err
    assert Image.open(out).size[1] == LINE + 4 + 9 * (227 + 2) + 2  # a title, the input, then norm1, norm2, conv3, conv4, conv5, fc6, fc7, fc8
    capsys.readouterr()
    assert main(["weights", "list", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["schema"] == "invertnet.weights" and record["schema_version"] == 1 and record["invertnet_version"]
    rows = {row["name"]: row for row in record["weights"]}
    norm1 = rows["deepsim:norm1"]
    assert norm1["cached"] and norm1["origin"] == "hf" and norm1["url"].startswith("file://") and norm1["hash_algorithm"] == "sha256"
    assert len(norm1["hash"]) == 64 and rows["hf:upconvGAN_norm1.pt"]["hash"] == norm1["hash"]  # recorded at first use, in full
    assert rows["zoo:bvlc_reference_caffenet.caffemodel"]["hash_algorithm"] == "sha1" and len(rows["zoo:bvlc_reference_caffenet.caffemodel"]["hash"]) == 40
    assert rows["imagenet"]["hash"] is None and rows["imagenet"]["hash_prefix"] == "7be5be79"  # all its name promises
    assert all(value != "" and value != "-" for row in record["weights"] for value in row.values())  # missing: null
    assert not rows["hf:upconvGAN_norm1.pt"]["cached"] and rows["hf:upconvGAN_fc6.pt"]["size"] > 200e6  # its expected size
    assert rows["hf:upconvGAN_caffenet.pt"]["cached"] and not rows["zoo:bvlc_reference_caffenet.caffemodel"]["cached"]
    assert rows["release:release_deepsim_v0.zip"]["url"] == weights.RELEASE_URL


def test_import_then_invert_and_eval_with_a_random_caffenet(tmp_path, ports, image_files, trained_run, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    port = port_net(ports, "pool5")
    torch.save(port.state_dict(), tmp_path / "upconvGAN_pool5.pt")
    converted = tmp_path / "authors-conv5.safetensors"
    assert main(["weights", "import", str(tmp_path / "upconvGAN_pool5.pt"), "--layer", "conv5", "--out", str(converted), "--encoder", "caffenet:random:0"]) == 0
    assert load_checkpoint(converted).encoder == "caffenet:random:0"
    assert main(["weights", "import", str(tmp_path / "upconvGAN_pool5.pt"), "--layer", "conv5", "--encoder", "caffenet:random:0"]) == 1
    assert "needs --out" in capsys.readouterr().err
    assert main(["weights", "import", str(tmp_path / "upconvGAN_pool5.pt"), "--layer", "conv5", "--out", str(tmp_path / "x.safetensors"), "--encoder", "random:0"]) == 1
    assert "name a caffenet encoder" in capsys.readouterr().err
    assert main(["weights", "import", str(converted), "--layer", "conv5", "--out", str(converted)]) == 1
    assert "never overwrites an input" in capsys.readouterr().err
    assert main(["weights", "import", str(tmp_path / "upconvGAN_pool5.pt"), "--as", "deepsim:fc6_eucl", "--layer", "conv5"]) == 1
    assert "--as deepsim:fc6_eucl inverts fc6, not --layer conv5" in capsys.readouterr().err
    target = tmp_path / "recon.png"
    assert main(["invert", str(image_files[0]), "--layer", "conv5", "--weights", str(converted), "--out", str(target)]) == 0
    assert Image.open(target).size == (227, 227)
    inverter = Inverter.load("conv5", converted)
    assert inverter.encoder.identity == "caffenet:random:0" and inverter.input_size == 227
    capsys.readouterr()
    code = main(["eval", "--data", "synthetic", "--limit", "3", "--layer", "conv5", "--weights", str(converted), "--weights", str(trained_run),
                 "--json", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [r["encoder"] for r in results] == ["caffenet:random:0", "random:0"]  # each against its own encoder
    assert results[0]["method"] == "DeePSiM (authors'): deepsim:conv5"
    assert all(0 < r["image_error_fraction"] < 5 for r in results)
    assert "caffenet:random:0" in capsys.readouterr().out
    code = main(["eval", "--data", "synthetic", "--limit", "3", "--layer", "conv5", "--weights", str(converted), "--weights", str(trained_run),
                 "--html", str(tmp_path / "report")])
    assert code == 1 and "different encoders" in capsys.readouterr().err


def test_the_early_layers_run_end_to_end_and_are_not_trained(tmp_path, ports, image_files, capsys):
    torch.save(port_net(ports, "norm2").state_dict(), tmp_path / "upconvGAN_norm2.pt")
    converted = tmp_path / "norm2.safetensors"
    assert main(["weights", "import", str(tmp_path / "upconvGAN_norm2.pt"), "--layer", "norm2", "--out", str(converted), "--encoder", "caffenet:random:0"]) == 0
    for command in (["invert", str(image_files[0])], ["reencode", str(image_files[0]), "--iterations", "2"],
                    ["interpolate", str(image_files[0]), str(image_files[1]), "--frames", "3"]):
        assert main([*command, "--weights", str(converted), "--out", str(tmp_path / f"{command[0]}.png")]) == 0, capsys.readouterr().err
    assert Image.open(tmp_path / "invert.png").size == (227, 227)
    code = main(["eval", "--data", "synthetic", "--limit", "3", "--weights", str(converted), "--method", "generator", "--method", "optimize",
                 "--iterations", "2", "--json", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [r["layer"] for r in results] == ["norm2", "norm2"] and results[0]["method"].startswith("authors' early-layer generator")
    assert main(["train", "--layer", "norm2", "--encoder", "caffenet:random:0", "--data", "synthetic", "--out", str(tmp_path / "run"), "--steps", "1"]) == 1
    assert "trains generators for CaffeNet's conv5, fc6, fc7, fc8, prob" in capsys.readouterr().err  # train says what it trains
    assert main(["invert", str(image_files[0]), "--layer", "norm2", "--encoder", "random:0", "--method", "optimize", "--iterations", "1",
                 "--out", str(tmp_path / "o.png")]) == 1
    assert "torchvision's AlexNet has no norm2 tap" in capsys.readouterr().err
