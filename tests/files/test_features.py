"""Feature files: what invertnet writes it reads back; what comes from elsewhere is checked before it is used."""

import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from invertnet.errors import InvertnetError
from invertnet.files.features import SCHEMA, Features, read_features, write_features


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_round_trip(tmp_path, suffix):
    values = torch.randn(3, 8, 2, 2)
    path = write_features(Features(values, ["a", "b", "c"], "resnet50:random:0", "layer4"), tmp_path / f"f{suffix}")
    back = read_features(path)
    assert torch.equal(back.values, values)
    if suffix == ".safetensors":  # names, encoder and layer travel with the rows
        assert (back.names, back.encoder, back.layer) == (["a", "b", "c"], "resnet50:random:0", "layer4")
    else:
        assert np.array_equal(np.load(path), values.numpy())  # a plain .npy, as NumPy reads it
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_safetensors_metadata_follows_its_schema(tmp_path):
    from safetensors import safe_open

    path = write_features(Features(torch.zeros(1, 4), ["x"], "imagenet", "fc6"), tmp_path / "f.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata, keys = handle.metadata(), list(handle.keys())
    assert keys == ["features"] and metadata["invertnet.schema"] == SCHEMA and json.loads(metadata["invertnet.names"]) == ["x"]


@pytest.mark.parametrize("dtype", ["<f2", ">f4", "<f8"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_files_of_any_float_byte_order_and_layout(tmp_path, dtype, order):
    array = np.asarray(np.random.default_rng(0).normal(size=(4, 3, 5)), dtype=dtype, order=order)
    np.save(tmp_path / "f.npy", array)
    assert np.array_equal(read_features(tmp_path / "f.npy").values.numpy(), array.astype(np.float32))


def test_an_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    np.save(tmp_path / "f.npy", np.array([[Evil()]], dtype=object), allow_pickle=True)
    with pytest.raises(InvertnetError, match="must be floats"):
        read_features(tmp_path / "f.npy")
    assert not marker.exists()


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: np.save(p / "f.npy", np.zeros((2, 3), dtype=np.int64)), "must be floats .* not '<i8'"),
        (lambda p: (p / "f.npy").write_bytes(np.lib.format.magic(1, 0) + b"\x10\x00{'descr': '<f4'"), "not a NumPy .npy file"),
        (lambda p: (p / "f.npy").write_bytes(b"PK\x03\x04 not numpy"), "not a NumPy .npy file"),
        (lambda p: np.save(p / "f.npy", np.zeros(5, dtype=np.float32)), r"shape \(images, ...\).* it is \(5,\)"),
        (lambda p: np.save(p / "f.npy", np.array([[1.0, np.nan], [0.0, 0.0], [np.inf, 1.0]], dtype=np.float32)), "row 0, 2 holds NaN or infinite"),
        (lambda p: save_file({"a": torch.zeros(1, 2), "b": torch.zeros(1, 2)}, str(p / "f.safetensors")), "holds 2 tensors .* name the features"),
        (lambda p: save_file({"features": torch.zeros(2, 2, dtype=torch.int32)}, str(p / "f.safetensors")), "must be floats, not torch.int32"),
        (lambda p: save_file({"features": torch.zeros(2, 2)}, str(p / "f.safetensors"), {"invertnet.names": "[1, 2]"}), "not a JSON list of names"),
        (lambda p: save_file({"features": torch.zeros(2, 2)}, str(p / "f.safetensors"), {"invertnet.names": '["a"]'}), "1 names for 2 rows"),
        (lambda p: (p / "f.safetensors").write_bytes(b"\xff" * 20), "not a readable safetensors file"),
    ],
)
def test_files_from_elsewhere_are_checked(tmp_path, write, message):
    write(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(InvertnetError, match=message):
        read_features(path)


def test_a_truncated_npy_is_refused_before_its_data_is_read(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((100, 100), dtype=np.float32))
    data = (tmp_path / "f.npy").read_bytes()
    (tmp_path / "f.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvertnetError, match="truncated: its header promises 40,000 bytes"):
        read_features(tmp_path / "f.npy")


def test_fifos_and_other_suffixes_are_refused(tmp_path):
    os.mkfifo(tmp_path / "f.npy")
    with pytest.raises(InvertnetError, match="FIFO"):
        read_features(tmp_path / "f.npy")
    with pytest.raises(InvertnetError, match=r"name a .npy or .safetensors file"):
        read_features(tmp_path / "f.mat")
