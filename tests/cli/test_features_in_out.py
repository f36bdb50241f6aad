"""Features in and out: ``invertnet features``, ``invert --features``, ``invertnet layers``, and ``--encoder`` (``--alexnet`` kept one
release with a warning)."""

import json

import numpy as np
import pytest
import torch
from conftest import ALEXNET, run

from invertnet.data.imageio import load_image
from invertnet.files.features import read_features


@pytest.mark.parametrize("suffix", [".safetensors", ".npy"])
def test_features_then_invert_features_is_invert(capsys, trained_run, pictures, tmp_path, suffix):
    code, out, err = run(capsys, "invert", *pictures, "--weights", trained_run, "--out", tmp_path / "direct")
    assert code == 0, err
    features = tmp_path / f"f{suffix}"
    code, out, err = run(capsys, "features", *pictures, "--encoder", ALEXNET, "--layer", "conv5", "--out", features)
    assert code == 0 and out.strip() == str(features), err
    rows = read_features(features)
    assert rows.values.shape == (2, 256, 6, 6)
    if suffix == ".safetensors":
        assert rows.names == ["p0", "p1"] and rows.encoder == ALEXNET and rows.layer == "conv5"
    code, out, err = run(capsys, "invert", "--features", features, "--weights", trained_run, "--out", tmp_path / "back", "--json", tmp_path / "r.json")
    assert code == 0, err
    names = ["p0", "p1"] if suffix == ".safetensors" else ["f-0000", "f-0001"]
    for name, picture in zip(names, ("p0", "p1")):
        assert torch.equal(load_image(tmp_path / "back" / f"{name}.conv5.png"), load_image(tmp_path / "direct" / f"{picture}.conv5.png"))
    record = json.loads((tmp_path / "r.json").read_text())
    assert [item["input"] for item in record["images"]] == [f"{features}[0]", f"{features}[1]"]


def test_invert_features_needs_no_encoder_weights(capsys, trained_run, tmp_path, monkeypatch):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((1, 256, 6, 6), dtype=np.float32))
    monkeypatch.setattr("invertnet.encoders.load_encoder", lambda *a, **k: pytest.fail("the encoder was loaded"))
    code, out, err = run(capsys, "invert", "--features", tmp_path / "f.npy", "--weights", trained_run, "--out", tmp_path / "one.png")
    assert code == 0 and out.strip() == str(tmp_path / "one.png"), err


@pytest.mark.parametrize(
    "rows, extra, message",
    [
        ((2, 4096), [], "holds rows of 4096; the conv5 generator .* takes 256x6x6"),
        ((1, 256, 6, 6), ["{img}"], "give images or --features, not both"),
        ((1, 256, 6, 6), ["--side-by-side"], "--side-by-side does not apply to --features"),
        ((1, 256, 6, 6), ["--encoder", ALEXNET], "--encoder does not apply to --features"),
        ((2, 256, 6, 6), ["--out", "{tmp}/x.png"], "names one file, but .* holds 2 rows"),
    ],
)
def test_invert_features_refusals(capsys, trained_run, pictures, tmp_path, rows, extra, message):
    np.save(tmp_path / "f.npy", np.zeros(rows, dtype=np.float32))
    args = [a.format(img=pictures[0], tmp=tmp_path) for a in extra]
    code, out, err = run(capsys, "invert", *args, "--features", tmp_path / "f.npy", "--weights", trained_run)
    assert code == 1 and err.count("\n") == 1, err
    assert __import__("re").search(message, err), err
    code, out, err = run(capsys, "invert", "--features", tmp_path / "f.npy")
    assert code == 1 and "--features needs --weights" in err


def test_features_refuses_an_unknown_layer_with_the_list(capsys, pictures, tmp_path):
    code, out, err = run(capsys, "features", pictures[0], "--encoder", ALEXNET, "--layer", "fc9", "--out", tmp_path / "f.npy")
    assert code == 1 and "has no layer 'fc9'; its layers: conv5 256x6x6, fc6 4096, fc7 4096, fc8 1000, prob 1000" in err
    code, out, err = run(capsys, "features", pictures[0], "--encoder", ALEXNET, "--layer", "fc6", "--out", tmp_path / "f.mat")
    assert code == 1 and "name a .npy or .safetensors file" in err
    assert not list(tmp_path.glob("f.*"))


def test_layers_lists_shapes_the_comparator_and_generators(capsys, trained_run, tmp_path, monkeypatch):
    monkeypatch.setenv("INVERTNET_WEIGHTS", str(tmp_path))
    (tmp_path / "conv5.safetensors").write_bytes((trained_run / "generator.safetensors").read_bytes())
    code, out, err = run(capsys, "layers", "resnet50", "--json", "-")  # shapes without weights: offline, nothing downloaded
    assert code == 0, err
    record = json.loads(out)
    assert record["schema"] == "invertnet.layers" and record["schema_version"] == 1 and record["encoder"] == "resnet50"
    layers = {layer["name"]: layer for layer in record["layers"]}
    assert layers["layer4"]["shape"] == [2048, 7, 7] and layers["avgpool"]["shape"] == [2048] and layers["layer3"]["comparator"]
    assert all(layer["generator"] is None for layer in record["layers"])
    code, out, err = run(capsys, "layers", ALEXNET)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["layer", "shape", "comparator", "generator"]
    assert lines[1].split() == ["conv5", "256x6x6", "yes", str(tmp_path / "conv5.safetensors")] and lines[2].split() == ["fc6", "4096", "none"]
    code, out, err = run(capsys, "layers", "caffenet")
    assert code == 0 and "norm1   96x27x27              deepsim:norm1 (the authors', not downloaded: invertnet weights fetch)" in out
    assert all(len(line) <= 100 for line in out.splitlines() if str(tmp_path) not in line)  # a path is as long as it is
    code, out, err = run(capsys, "layers", "vit_b_16")
    assert code == 0 and "block12  768x14x14" in out and "cls" in out


def test_the_old_alexnet_flag_works_with_a_warning(capsys, trained_run, pictures, tmp_path):
    code, out, err = run(capsys, "invert", pictures[0], "--weights", trained_run, "--alexnet", ALEXNET, "--out", tmp_path / "a.png")
    assert code == 0 and "invert --alexnet is now --encoder" in err and "deprecated" in err
