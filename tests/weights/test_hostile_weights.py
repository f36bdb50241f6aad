"""Weights files built to break the readers: each is refused with one clear InvertnetError, quickly and in bounded memory."""

from __future__ import annotations

import json
import os
import struct
import time
import zipfile
from pathlib import Path

import pytest
import torch
from published_formats import pb_blob, pb_field, pb_varint, port_generator, write_caffemodel, write_generator_caffemodel
from safetensors.torch import save_file

from invertnet.cli import main
from invertnet.encoders.caffenet import CAFFE_LAYERS, caffenet_from_caffemodel, random_caffenet
from invertnet.errors import InvertnetError
from invertnet.files.caffemodel import MalformedCaffeModel, read_caffemodel
from invertnet.weights import registry as weights
from invertnet.weights.checkpoint import base_metadata

BOUND = 1 << 30


@pytest.fixture(scope="module")
def pool5():
    """The port's conv5 (pool5) generator with random weights."""
    return port_generator("pool5")


def _layer(name: str, *blobs: bytes) -> bytes:
    return pb_field(100, pb_field(1, name.encode()) + pb_field(2, b"Convolution") + b"".join(pb_field(7, blob) for blob in blobs))


def _shape(*dims: int) -> bytes:
    return pb_field(7, b"".join(pb_varint(1 << 3) + pb_varint(dim) for dim in dims))


@pytest.mark.parametrize("blob, message", [
    (_shape(2) + pb_field(5, b"\0" * 6), "not 4-byte floats"),  # data length not a multiple of 4
    (_shape(1) + pb_varint(5 << 3) + pb_varint(7), "not 4-byte floats"),  # data written as a varint
    (_shape(2) + pb_field(8, b"\0" * 12), "not 8-byte floats"),
    (_shape(1 << 62, 1 << 62, 4), "holds 0 values"),  # dimensions whose product overflows int64
    (_shape(1 << 40) + pb_field(5, b""), "holds 0 values"),
])
def test_malformed_blobs_are_refused(tmp_path, blob, message):
    (tmp_path / "bad.caffemodel").write_bytes(_layer("conv1", blob))
    with pytest.raises(MalformedCaffeModel, match=message):
        read_caffemodel(tmp_path / "bad.caffemodel", max_bytes=BOUND)


def test_zeros_are_refused_at_the_first_byte_and_size_is_bounded(tmp_path):
    (tmp_path / "zeros.caffemodel").write_bytes(bytes(8 << 20))
    started = time.perf_counter()
    with pytest.raises(MalformedCaffeModel, match="field numbered 0"):
        read_caffemodel(tmp_path / "zeros.caffemodel", max_bytes=BOUND)
    assert time.perf_counter() - started < 5  # was minutes per GB: a walk of 2-byte fields
    with pytest.raises(InvertnetError, match="more than the .caffemodel can be"):
        read_caffemodel(tmp_path / "zeros.caffemodel", max_bytes=1 << 20)


@pytest.mark.xdist_group("big_temp")
def test_a_caffenet_with_wrongly_shaped_blobs_is_refused(tmp_path, capsys):
    net = random_caffenet(1)
    write_caffemodel(tmp_path / "good.caffemodel", net, legacy=False)
    message = b""
    for name in CAFFE_LAYERS:
        module = getattr(net, name)
        weight = module.weight.detach().reshape(-1)[:7] if name == "conv1" else module.weight.detach()
        message += _layer(name, pb_blob(weight, False), pb_blob(module.bias.detach()[0] if name == "fc8" else module.bias, False))
    (tmp_path / "bad.caffemodel").write_bytes(message)
    with pytest.raises(InvertnetError, match="layer conv1 holds 7 weights"):
        caffenet_from_caffemodel(tmp_path / "bad.caffemodel")
    code = main(["train", "--encoder", f"caffenet:{tmp_path / 'bad.caffemodel'}", "--layer", "conv5", "--data", "synthetic",
                 "--out", str(tmp_path / "run"), "--steps", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0 and "conv1 holds 7 weights" in err and "Traceback" not in err


@pytest.mark.parametrize("damage, message", [
    ("1-D tail", r"its layer deconv5 holds weights of shape \(2097152,\)"),
    ("0-d head", r"its layer Rconv6 holds weights of shape \(\)"),
])
def test_a_generator_caffemodel_with_flat_weights_is_refused(tmp_path, pool5, damage, message):
    net = port_generator("pool5")
    net.load_state_dict(pool5.state_dict())
    name = "deconv5" if damage == "1-D tail" else "Rconv6"
    module = getattr(net, name)
    flat = module.weight.detach().reshape(-1) if damage == "1-D tail" else module.weight.detach().reshape(-1)[0]
    del module.weight
    module.weight = flat  # written as a blob of that shape
    write_generator_caffemodel(tmp_path / "generator.caffemodel", net)
    with pytest.raises(InvertnetError, match=message):
        weights.read_generator(tmp_path / "generator.caffemodel", "conv5")


@pytest.mark.parametrize("damage", ["1-D conv5_1", "all 1x1"])
def test_a_port_file_with_wrong_dimensions_is_refused(tmp_path, pool5, damage):
    state = dict(pool5.state_dict())
    if damage == "1-D conv5_1":
        state["conv5_1.weight"] = state["conv5_1.weight"].reshape(-1)
    else:
        state = {key: value[..., :1, :1] if value.dim() == 4 else value for key, value in state.items()}
    torch.save(state, tmp_path / "port.pt")
    with pytest.raises(InvertnetError, match="not the authors' conv5 generator"):
        weights.read_generator(tmp_path / "port.pt", "conv5")


def _deflated_copy(source: Path, target: Path) -> None:
    """``source`` (a PyTorch zip) with every member deflated: small on disk, as large as ever unpacked."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info))


def test_a_compressed_tensor_bomb_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "MEMBER_MARGIN", 0.01)  # a bound of 16 MiB and a little: the bomb need only pass that
    torch.save({"Rconv6.weight": torch.zeros(24 << 20, dtype=torch.uint8)}, tmp_path / "plain.pt")
    _deflated_copy(tmp_path / "plain.pt", tmp_path / "bomb.pt")
    (tmp_path / "plain.pt").unlink()
    assert (tmp_path / "bomb.pt").stat().st_size < weights.generator_bytes_bound("conv5")
    with pytest.raises(InvertnetError, match="would unpack to"):
        weights.read_generator(tmp_path / "bomb.pt", "conv5")


def _release_bytes(tmp_path: Path, pool5, compression: int) -> bytes:
    write_generator_caffemodel(tmp_path / "generator.caffemodel", pool5)
    with zipfile.ZipFile(tmp_path / "r.zip", "w", compression) as archive:
        archive.write(tmp_path / "generator.caffemodel", "release_deepsim_v0/pool5/generator.caffemodel")
    return (tmp_path / "r.zip").read_bytes()


def _set_member_field(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with a field of the member's local header and central-directory entry changed (offsets from each signature)."""
    out = bytearray(data)
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    struct.pack_into(fmt, out, local + offset, value)
    struct.pack_into(fmt, out, central + offset + 2, value)  # the central entry has a 2-byte "version made by" in front
    return bytes(out)


@pytest.mark.parametrize("damage, message", [("encrypted", "encrypted"), ("unknown compression", "compression")])
def test_a_zip_member_that_cannot_be_unpacked_is_refused(tmp_path, pool5, damage, message):
    data = _release_bytes(tmp_path, pool5, zipfile.ZIP_STORED)
    data = _set_member_field(data, 6, "<H", 1) if damage == "encrypted" else _set_member_field(data, 8, "<H", 99)
    (tmp_path / "bad.zip").write_bytes(data)
    with pytest.raises(InvertnetError, match=f"not a readable zip file.*{message}"):
        weights.read_generator(tmp_path / "bad.zip", "conv5")


def test_a_zip_bomb_member_is_refused_from_its_header(tmp_path, monkeypatch, pool5):
    monkeypatch.setattr(weights, "MEMBER_MARGIN", 0.01)
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("release_deepsim_v0/pool5/generator.caffemodel", "w", force_zip64=True) as member:
            for _ in range(24):
                member.write(bytes(1 << 20))
    with pytest.raises(InvertnetError, match="would unpack to 25,165,824 bytes"):
        weights.read_generator(tmp_path / "bomb.zip", "conv5")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bomb.zip"]  # nothing written beside it


@pytest.mark.parametrize("source", ["not json", "[1, 2]", json.dumps({"a": [[[]]]})])
def test_weights_list_survives_odd_source_metadata(tmp_path, monkeypatch, capsys, source):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = weights.deepsim_path("conv5")
    path.parent.mkdir(parents=True)
    metadata = base_metadata("conv5", "caffenet", {}, 0, "generator")
    save_file({"generator.x": torch.zeros(1)}, str(path), {**metadata, "invertnet.source": source})
    code = main(["weights", "list"])
    out, err = capsys.readouterr()
    assert code == 0 and "deepsim:conv5" in out and "Traceback" not in err
    save_file({"generator.x": torch.zeros(1)}, str(path), {**metadata, "invertnet.step": "²"})
    assert main(["weights", "list"]) == 0
    assert "unreadable" in capsys.readouterr().out


def test_a_read_only_cache_is_named_as_such(tmp_path, monkeypatch, capsys, pool5):
    """A good zip in a read-only TORCH_HOME: the cache is the problem, the zip is not to be deleted.

    Tests run as root, who may write in a chmod 555 folder, so the read-only file system is simulated
    where invertnet asks: access(2), which answers EROFS for a read-only mount even to root.
    """
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("INVERTNET_WEIGHTS", str(tmp_path / "none"))
    from published_formats import write_release

    cache = weights.release_path().parent
    cache.mkdir(parents=True)
    write_release(weights.release_path(), pool5)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != cache and real_access(path, mode, **kw))
    code = main(["weights", "fetch", "deepsim:conv5"])
    err = capsys.readouterr().err
    assert code != 0 and f"the weights cache {cache}: cannot write in {cache} (read-only, or no permission)" in err and "--out PATH" in err
    assert "delete" not in err and weights.release_path().is_file() and not weights.deepsim_path("conv5").exists()
