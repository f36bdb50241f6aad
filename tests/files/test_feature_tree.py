"""bdpy's feature trees, true and decoded, listed and read as bdpy's Features and DecodedFeatures do."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from invertnet.errors import InvertnetError
from invertnet.files.feature_tree import open_tree, read_tree_features

pytest.importorskip("h5py")
dataform = pytest.importorskip("bdpy.dataform")


def write_decoded(root, layer="relu7", subjects=("S1", "S2"), rois=("VC", "V1"), labels=("a01", "b02"), shape=(1, 8), seed=0, folder=""):
    """A decoded tree as bdpy's save_feature writes one (v7.3): ROOT/LAYER/SUBJECT/ROI[/decoded_features]/LABEL.mat."""
    rng = np.random.default_rng(seed)
    values = {}
    for subject in subjects:
        for roi in rois:
            for label in labels:
                values[subject, roi, label] = rng.normal(size=shape).astype(np.float32)
                place = f"{layer}/{subject}/{roi}" + (f"/{folder}" if folder else "")
                dataform.save_feature(values[subject, roi, label], str(root), place, label)
    return values


def test_a_decoded_tree_reads_as_bdpy_decoded_features(tmp_path):
    values = write_decoded(tmp_path)
    tree = open_tree(tmp_path)
    assert tree.decoded and tree.layers == ("relu7",)
    assert tree.groups("relu7") == [("S1", "V1"), ("S1", "VC"), ("S2", "V1"), ("S2", "VC")]
    items = tree.items("relu7", subjects=["S2"], rois=["VC"])
    assert [(i.subject, i.roi, i.label) for i in items] == [("S2", "VC", "a01"), ("S2", "VC", "b02")]
    bdpy = dataform.DecodedFeatures(str(tmp_path), squeeze=False)
    for item in items:
        ours = read_tree_features(item)
        theirs = bdpy.get(layer="relu7", subject=item.subject, roi=item.roi, label=item.label)
        assert np.array_equal(ours[None], theirs) and np.array_equal(ours[None], values[item.subject, item.roi, item.label])


def test_the_decoded_features_folder_variant_and_true_trees(tmp_path):
    write_decoded(tmp_path / "dec", folder="decoded_features", subjects=("S1",), rois=("VC",))
    tree = open_tree(tmp_path / "dec")
    assert [item.label for item in tree.items("relu7")] == ["a01", "b02"]
    rng = np.random.default_rng(1)
    for layer, shape in (("conv1", (1, 4, 5, 5)), ("relu7", (1, 8))):
        for label in ("x1", "x2", "x3"):
            dataform.save_feature(rng.normal(size=shape).astype(np.float32), str(tmp_path / "true"), layer, label)
    true = open_tree(tmp_path / "true")
    assert not true.decoded and true.layers == ("conv1", "relu7")
    bdpy = dataform.Features(str(tmp_path / "true"))
    for item in true.items("conv1"):
        assert np.array_equal(read_tree_features(item, (4, 5, 5))[None], bdpy.get("conv1", item.label))
    with pytest.raises(InvertnetError, match="holds true features .* no subjects or ROIs"):
        true.items("conv1", subjects=["S1"])


def test_statistics_pkl_is_never_unpickled(tmp_path):
    write_decoded(tmp_path, subjects=("S1",), rois=("VC",))
    marker = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "statistics.pkl").write_bytes(pickle.dumps(Trap()))
    tree = open_tree(tmp_path)
    for item in tree.items("relu7"):
        read_tree_features(item)
    assert not marker.exists()


def test_what_is_not_a_tree_is_refused_with_what_to_do(tmp_path):
    write_decoded(tmp_path / "t", subjects=("S1",), rois=("VC",))
    tree = open_tree(tmp_path / "t")
    with pytest.raises(InvertnetError, match=r"has no layer 'fc7' \(its layers: relu7\)"):
        tree.items("fc7")
    with pytest.raises(InvertnetError, match=r"has no subject S9 \(it has: S1\)"):
        tree.items("relu7", subjects=["S9"])
    dataform.save_feature(np.ones((1, 8), np.float32), str(tmp_path / "t"), "pool5", "a01")
    with pytest.raises(InvertnetError, match="mixes true features"):
        open_tree(tmp_path / "t")
    dataform.save_feature(np.ones((1, 8), np.float32), str(tmp_path / "odd"), "relu7", "a b")
    with pytest.raises(InvertnetError, match="label 'a b' is not a plain file name"):
        open_tree(tmp_path / "odd").items("relu7")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvertnetError, match="has no layer folders"):
        open_tree(tmp_path / "empty")
    dataform.save_feature(np.ones((2, 8), np.float32), str(tmp_path / "two"), "relu7", "a")
    with pytest.raises(InvertnetError, match=r"has shape \(2, 8\); a tree's file holds one image"):
        read_tree_features(open_tree(tmp_path / "two").items("relu7")[0])
    dataform.save_feature(np.full((1, 8), 1e300), str(tmp_path / "inf"), "relu7", "a")
    with pytest.raises(InvertnetError, match="8 infinite values"):
        read_tree_features(open_tree(tmp_path / "inf").items("relu7")[0])
    with pytest.raises(InvertnetError, match="the layer takes 9"):
        read_tree_features(open_tree(tmp_path / "two").items("relu7")[0].__class__(
            "a", tmp_path / "inf" / "relu7" / "a.mat"), (9,))
