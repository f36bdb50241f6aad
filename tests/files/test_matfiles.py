"""MATLAB files from elsewhere: both versions read as bdpy reads them, every hostile case refused from the header."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from invertnet.errors import InvertnetError
from invertnet.files.matfiles import mat_keys, read_mat_array, read_mat_arrays, write_mat

h5py = pytest.importorskip("h5py")
scipy_io = pytest.importorskip("scipy.io")
hdf5storage = pytest.importorskip("hdf5storage")


def test_v73_as_bdpy_writes_it_and_v5_read_as_bdpy_reads_them(tmp_path):
    features = pytest.importorskip("bdpy.dataform.features")
    x = np.random.default_rng(0).normal(size=(1, 16, 3, 3)).astype(np.float32)
    features.save_feature(x, str(tmp_path), "pool5", "img1")  # MATLAB v7.3 (HDF5), axes reversed on disk
    v73 = tmp_path / "pool5" / "img1.mat"
    assert h5py.is_hdf5(v73) and h5py.File(v73)["feat"].shape == (3, 3, 16, 1)
    scipy_io.savemat(tmp_path / "v5.mat", {"feat": x.astype(np.float64), "other": np.zeros(3)})
    scipy_io.savemat(tmp_path / "v5z.mat", {"feat": x}, do_compression=True)
    for path in (v73, tmp_path / "v5.mat", tmp_path / "v5z.mat"):
        ours = read_mat_array(path, "feat")
        assert ours.shape == x.shape and np.array_equal(ours.astype(np.float32), x)
        assert np.array_equal(ours, features._load_array_with_key("feat", str(path)))  # bdpy's own reader
    assert mat_keys(tmp_path / "v5.mat") == ["feat", "other"] and mat_keys(v73) == ["feat"]


def test_write_mat_is_what_scipy_reads(tmp_path):
    arrays = {"conv1": np.arange(4.0)[None], "relu7": np.ones((1, 3))}
    path = write_mat(arrays, tmp_path / "std.mat")
    loaded = scipy_io.loadmat(path)
    assert all(np.array_equal(loaded[key], value) for key, value in arrays.items())
    assert read_mat_arrays(path, ["relu7", "conv1"])["conv1"].tolist() == [[0.0, 1.0, 2.0, 3.0]]


def test_a_small_file_that_claims_a_huge_array_is_refused_before_any_data_is_read(tmp_path):
    path = tmp_path / "bomb.mat"
    with h5py.File(path, "w") as store:  # chunked and compressed, never written: a few KB on disk, 2.4 GB read
        store.create_dataset("feat", shape=(300_000_000, 1), dtype="f8", chunks=(1 << 20, 1), compression="gzip")
    assert path.stat().st_size < 100_000
    with pytest.raises(InvertnetError, match="claims a shape of .* more than"):
        read_mat_array(path, "feat")
    scipy_io.savemat(tmp_path / "v5.mat", {"feat": np.zeros((1, 1000))}, do_compression=True)
    calls = []
    real = scipy_io.loadmat
    scipy_io.loadmat = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        with pytest.raises(InvertnetError, match="more than the 100 values"):
            read_mat_array(tmp_path / "v5.mat", "feat", max_elements=100)
    finally:
        scipy_io.loadmat = real
    assert calls == []  # refused from whosmat's header


@pytest.mark.parametrize("kind", ["external", "soft", "virtual", "reference", "external-storage", "integer", "group"])
def test_hdf5_pointers_to_other_files_and_non_floats_are_refused(tmp_path, kind):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as store:
        store["data"] = np.ones((1, 4))
    path = tmp_path / "tree.mat"
    with h5py.File(path, "w") as store:
        if kind == "external":
            store["feat"] = h5py.ExternalLink(str(other), "data")
        elif kind == "soft":
            store["data"] = np.ones((1, 4))
            store["feat"] = h5py.SoftLink("/data")
        elif kind == "virtual":
            layout = h5py.VirtualLayout(shape=(1, 4), dtype="f8")
            layout[:] = h5py.VirtualSource(str(other), "data", shape=(1, 4))
            store.create_virtual_dataset("feat", layout)
        elif kind == "reference":
            store["data"] = np.ones((1, 4))
            refs = store.create_dataset("feat", (1,), dtype=h5py.ref_dtype)
            refs[0] = store["data"].ref
        elif kind == "external-storage":
            raw = tmp_path / "raw.bin"
            raw.write_bytes(np.ones(4).tobytes())
            store.create_dataset("feat", shape=(1, 4), dtype="f8", external=[(str(raw), 0, 32)])
        elif kind == "integer":
            store["feat"] = np.ones((1, 4), dtype=np.int64)
        else:
            store.create_group("feat")
    with pytest.raises(InvertnetError, match="link to another|other files|object references|holds int64|a group") as error:
        read_mat_array(path, "feat")
    assert str(path) in str(error.value)


def test_bad_files_are_one_clear_error(tmp_path):
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(InvertnetError, match="is not a MATLAB .mat file"):
        read_mat_array(tmp_path / "junk.mat", "feat")
    scipy_io.savemat(tmp_path / "ints.mat", {"feat": np.ones((1, 3), dtype=np.int32), "x": np.ones(2)})
    with pytest.raises(InvertnetError, match="holds int32 values"):
        read_mat_array(tmp_path / "ints.mat", "feat")
    with pytest.raises(InvertnetError, match=r"has no array 'y_mean' \(it holds: feat, x\)"):
        read_mat_array(tmp_path / "ints.mat", "y_mean")
    with pytest.raises(InvertnetError, match="MATLAB file not found"):
        read_mat_array(tmp_path / "missing.mat", "feat")


def test_without_scipy_or_h5py_the_error_names_the_extra(tmp_path, monkeypatch):
    write_mat({"feat": np.ones((1, 2))}, tmp_path / "a.mat")
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(InvertnetError, match=r"pip install 'invertnet\[mat\]'"):
        read_mat_array(tmp_path / "a.mat", "feat")
    with h5py.File(tmp_path / "b.mat", "w") as store:
        store["feat"] = np.ones((2, 1))
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(InvertnetError, match=r"invertnet\[mat\]"):
        read_mat_array(tmp_path / "b.mat", "feat")
