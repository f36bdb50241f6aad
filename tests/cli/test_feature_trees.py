"""``invert --features ROOT`` on bdpy feature trees: FG as the cookbook's recon_fg_image.py computes it, iCNN, resume, scaling, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from conftest import run


pytest.importorskip("h5py")
dataform = pytest.importorskip("bdpy.dataform")
models = pytest.importorskip("bdpy.dl.torch.models")
bdpy_feature = pytest.importorskip("bdpy.feature")
scipy_io = pytest.importorskip("scipy.io")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab's pool5 generator as bdpy holds it (torch's initialisation: biases everywhere), saved with torch.save, and a decoded tree."""
    root = tmp_path_factory.mktemp("lab")
    torch.manual_seed(0)
    generator = models.AlexNetPool5Generator().eval()
    torch.save(generator.state_dict(), root / "generator_pool5.pt")
    rng = np.random.default_rng(0)
    features = {}
    for subject in ("S1", "S2"):
        for label in ("n01_a", "n02_b", "n03_c"):
            features[subject, label] = (rng.gamma(1.0, 2.0, size=(1, 256, 6, 6)) - 1.0).astype(np.float32)
            dataform.save_feature(features[subject, label], str(root / "decoded"), f"pool5/{subject}/VC", label)
    return root, generator, features


def fg_script_png(generator, feature: np.ndarray) -> np.ndarray:
    """recon_fg_image.py: the generator's output, img_deprocess'd (mean B 104, G 117, R 123; BGR -> RGB), clipped to 0-255 for the PNG."""
    with torch.no_grad():
        out = generator(torch.tensor(feature)).numpy()[0]
    image = np.dstack((out + np.reshape(np.float32([104, 117, 123]), (3, 1, 1)))[::-1])
    return np.clip(image, 0, 255)


def test_fg_on_a_decoded_tree_is_the_cookbooks_image_and_resumes(capsys, lab, tmp_path, monkeypatch):
    root, generator, features = lab
    import invertnet.encoders

    monkeypatch.setattr(invertnet.encoders, "load_encoder", lambda *a, **k: pytest.fail("FG must not load an encoder"))
    out = tmp_path / "recon"
    code, stdout, err = run(capsys, "invert", "--features", root / "decoded", "--layer", "pool5", "--weights", root / "generator_pool5.pt",
                            "--subject", "S1", "--out", out, "--json", tmp_path / "r.json")
    assert code == 0, err
    written = sorted(out.rglob("*.png"))
    assert [p.relative_to(out).as_posix() for p in written] == ["S1/VC/n01_a.png", "S1/VC/n02_b.png", "S1/VC/n03_c.png"]
    assert stdout.split() == [*(str(p) for p in written), str(tmp_path / "r.json")]
    for label in ("n01_a", "n02_b", "n03_c"):
        ours = np.asarray(Image.open(out / "S1" / "VC" / f"{label}.png"), dtype=np.float64)
        expected = fg_script_png(generator, features["S1", label])
        assert ours.shape == (256, 256, 3) and np.abs(ours - expected).max() <= 0.5 + 1e-3  # rounded to the nearest level
    assert "warning: S1/VC:" in err and "negative" in err  # pool5 is rectified; these features are not
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["schema"] == "invertnet.invert_tree" and record["generator_layer"] == "conv5" and record["encoder"] is None
    assert [(i["subject"], i["roi"], i["label"], i["skipped"]) for i in record["images"]] == [("S1", "VC", lab, False) for lab in ("n01_a", "n02_b", "n03_c")]
    (out / "S1" / "VC" / "n02_b.png").unlink()
    before = (out / "S1" / "VC" / "n01_a.png").stat().st_mtime_ns
    code, stdout, err = run(capsys, "invert", "--features", root / "decoded", "--layer", "pool5", "--weights", root / "generator_pool5.pt", "--out", out)
    assert code == 0, err
    assert stdout.split() == [str(out / "S1" / "VC" / "n02_b.png"), *(str(out / "S2" / "VC" / f"{lab}.png") for lab in ("n01_a", "n02_b", "n03_c"))]
    assert "2 already there, skipped" in err and (out / "S1" / "VC" / "n01_a.png").stat().st_mtime_ns == before


def test_nan_features_scaling_and_decoders_as_the_fg_script(capsys, lab, tmp_path):
    root, generator, features = lab
    tree = tmp_path / "tree"
    rng = np.random.default_rng(1)
    feature = rng.normal(size=(1, 256, 6, 6)).astype(np.float32)
    feature[0, 3, 2, 2] = np.nan
    dataform.save_feature(features["S1", "n01_a"], str(tree), "pool5/S1/VC", "a")
    dataform.save_feature(feature, str(tree), "pool5/S1/VC", "b")
    args = ["invert", "--features", tree, "--layer", "pool5", "--weights", root / "generator_pool5.pt"]
    code, stdout, err = run(capsys, *args, "--out", tmp_path / "out")
    assert code == 1 and "b.mat: 1 NaN values; give --decoders DIR" in " ".join(err.split())
    assert (tmp_path / "out" / "S1" / "VC" / "a.png").exists()  # what was written before the bad file stays
    train_mean = rng.normal(size=(1, 256, 6, 6))
    (tmp_path / "decoders" / "pool5" / "S1" / "VC" / "model").mkdir(parents=True)
    import hdf5storage

    hdf5storage.savemat(str(tmp_path / "decoders" / "pool5" / "S1" / "VC" / "model" / "y_mean.mat"), {"y_mean": train_mean})
    sd = np.abs(rng.normal(size=(1, 256))) + 0.5
    scipy_io.savemat(tmp_path / "std.mat", {"pool5": sd})
    code, stdout, err = run(capsys, *args, "--decoders", tmp_path / "decoders", "--feature-scaling", "feature_std_train_mean_center",
                            "--feature-std", tmp_path / "std.mat", "--out", tmp_path / "scaled")
    assert code == 0, err
    script = feature.copy()  # recon_fg_image.py's decoded branch
    script[np.isnan(script)] = train_mean[np.isnan(script)]
    script = script - train_mean
    script = bdpy_feature.normalize_feature(script[0], channel_wise_mean=False, channel_wise_std=False, channel_axis=0, shift="self",
                                            scale=np.nanmean(sd), std_ddof=1)[np.newaxis] + train_mean
    ours = np.asarray(Image.open(tmp_path / "scaled" / "S1" / "VC" / "b.png"), dtype=np.float64)
    assert np.abs(ours - fg_script_png(generator, script.astype(np.float32))).max() <= 0.5 + 1e-2


@pytest.mark.parametrize("args, message", [
    (["--layer", "relu7"], "has no layer 'relu7' (its layers: pool5)"),
    (["--layer", "pool5", "--feature-scaling", "feature_std"], "needs --feature-std FILE"),
    (["--layer", "pool5", "--feature-scaling", "feature_std_train_mean_center", "--feature-std", "x.mat"], "needs --decoders DIR"),
    (["--layer", "pool5", "--roi", "V9"], "has no ROI V9 (it has: VC)"),
    (["--layer", "pool5", "--batch-size", "2"], "--batch-size does not apply to a feature tree"),
    (["--layer", "pool5", "--encoder", "caffenet:random:0"], "--encoder apply to --method icnn"),
    (["--layer", "pool5", "--method", "icnn"], "--method icnn needs --encoder SPEC"),
    (["--layer", "pool5", "--iterations", "3"], "--iterations does not apply to --method generator"),
])
def test_tree_requests_that_cannot_run_are_refused(capsys, lab, args, message):
    root, _, _ = lab
    code, _, err = run(capsys, "invert", "--features", root / "decoded", "--weights", root / "generator_pool5.pt", *args)
    assert code != 0 and message in " ".join(err.split()), err


def test_tree_options_outside_a_tree_are_refused(capsys, image_files):
    code, _, err = run(capsys, "invert", image_files[0], "--subject", "S1")
    assert code != 0 and "--subject does not apply here: they apply to a feature tree" in " ".join(err.split())


def test_icnn_on_a_true_tree_matches_the_shared_layers(capsys, lab, tmp_path):
    from invertnet.encoders.caffenet import random_caffenet
    from invertnet.encoders.tree_taps import tree_features

    root, _, _ = lab
    net = random_caffenet(0)
    images = torch.rand(2, 3, 227, 227, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        found = tree_features(net, images, ("conv1", "relu3", "relu7"))
    for index, label in enumerate(("x1", "x2")):
        for layer, value in found.items():
            dataform.save_feature(value[index : index + 1].numpy(), str(tmp_path / "true"), layer, label)
    code, stdout, err = run(capsys, "invert", "--features", tmp_path / "true", "--method", "icnn", "--layer", "pool5", "--weights",
                            root / "generator_pool5.pt", "--encoder", "caffenet:random:0", "--iterations", "2", "--out", tmp_path / "icnn",
                            "--match", "relu7,conv1", "--json", "-")
    assert code == 0, err
    record = json.loads(stdout)
    assert record["match"] == ["conv1", "relu7"] and record["settings"]["iterations"] == 2 and record["settings"]["seed"] == 0
    assert [Image.open(tmp_path / "icnn" / f"{label}.png").size for label in ("x1", "x2")] == [(227, 227)] * 2
    assert "iCNN true features x2 2/2" in err or "icnn from conv1, relu7" in err


def test_features_stats_writes_the_per_channel_sd_the_cookbook_reads(capsys, image_files, tmp_path):
    from invertnet.cli.common import crop_inputs
    from invertnet.data.imageio import load_image
    from invertnet.encoders.caffenet import random_caffenet
    from invertnet.encoders.tree_taps import tree_features

    out = tmp_path / "std.mat"
    code, stdout, err = run(capsys, "features", *image_files, "--encoder", "caffenet:random:0", "--layer", "conv1,relu7", "--layer", "pool5",
                            "--stats", "--batch-size", "3", "--out", out)
    assert code == 0 and stdout.strip() == str(out), err
    saved = scipy_io.loadmat(out)  # as the cookbook reads it
    images = torch.stack(list(crop_inputs([load_image(p) for p in image_files], 227)))
    with torch.no_grad():
        found = tree_features(random_caffenet(0), images, ("conv1", "relu7", "pool5"))
    for layer, value in found.items():  # every image and position of a channel pooled, ddof 1
        channels = value.double().transpose(0, 1).reshape(value.shape[1], -1).numpy()
        expected = channels.std(axis=1, ddof=1)
        assert saved[layer].shape == (1, value.shape[1])
        # the CLI ran batches of 3 and 1, here one of 4: float32 sums in another order, off by ~1e-6 of the values' scale
        np.testing.assert_allclose(saved[layer][0], expected, rtol=0, atol=1e-5 * float(value.abs().max()))
    for args, message in ((["--out", tmp_path / "s.npy"], "writes a MATLAB .mat file"), (["--out", out, "--layer", "conv1_1"], "no layer 'conv1_1'")):
        code, _, err = run(capsys, "features", *image_files, "--encoder", "caffenet:random:0", "--layer", "conv1", "--stats", *args)
        assert code != 0 and message in " ".join(err.split()), err
    code, _, err = run(capsys, "features", image_files[0], "--encoder", "caffenet:random:0", "--layer", "conv1", "--stats", "--out", out)
    assert code != 0 and "at least two images" in err


def test_an_invertnet_generator_runs_a_tree_of_its_own_encoders_names(capsys, trained_run, tmp_path):
    """A run's generator (AlexNet's conv5 here) takes a tree whose layer is named as its encoder names it; FG writes the whole
    output, whose centre is what invert --features makes from the same rows."""
    rows = np.random.default_rng(0).gamma(1.0, 1.0, size=(2, 256, 6, 6)).astype(np.float32)
    for index, label in enumerate(("a", "b")):
        dataform.save_feature(rows[index : index + 1], str(tmp_path / "tree"), "conv5", label)
    np.save(tmp_path / "rows.npy", rows)
    code, _, err = run(capsys, "invert", "--features", tmp_path / "tree", "--layer", "conv5", "--weights", trained_run, "--out", tmp_path / "fg")
    assert code == 0, err
    code, _, err = run(capsys, "invert", "--features", tmp_path / "rows.npy", "--weights", trained_run, "--out", tmp_path / "rows")
    assert code == 0, err
    for index, label in enumerate(("a", "b")):
        whole = np.asarray(Image.open(tmp_path / "fg" / f"{label}.png"))
        crop = np.asarray(Image.open(tmp_path / "rows" / f"rows-{index:04d}.conv5.png"))
        assert whole.shape == (256, 256, 3) and np.abs(whole[16:240, 16:240].astype(int) - crop).max() <= 1
    code, _, err = run(capsys, "invert", "--features", tmp_path / "tree", "--layer", "conv5", "--weights", trained_run, "--method", "icnn",
                       "--encoder", "random:0", "--match", "fc6", "--out", tmp_path / "x")
    assert code != 0 and "has no layer 'fc6'" in err


def test_input_bounds_are_read_as_the_labs_act_range_files(tmp_path):
    from invertnet.cli.tree import read_bound
    from invertnet.errors import InvertnetError

    (tmp_path / "relu7.txt").write_text(" ".join(f"{v:g}" for v in np.linspace(0, 3, 6)) + " 9 9\n")  # the script keeps the first columns
    assert read_bound(tmp_path / "relu7.txt", 6).tolist() == pytest.approx(np.linspace(0, 3, 6).tolist())
    for text, message in (("1 2", "holds 2 numbers; the generator takes 6"), ("1 2 3 4 5 -1", ">= 0"), ("1 2 x", "not a list of numbers")):
        (tmp_path / "bad.txt").write_text(text)
        with pytest.raises(InvertnetError, match=message):
            read_bound(tmp_path / "bad.txt", 6)


def test_a_missing_tree_is_named(capsys, tmp_path):
    code, _, err = run(capsys, "invert", "--features", tmp_path / "nosuch", "--layer", "relu7", "--weights", tmp_path / "g.pt")
    assert code == 1 and "no such folder (a feature tree) or file" in err
