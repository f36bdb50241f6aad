"""The lab's scores equal bdpy.evals.metrics on the same arrays, and eval --reconstructions reads pixels as recon_image_eval.py does."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from conftest import run

from invertnet.decoded.scores import image_error, pairwise_identification, pattern_correlation

metrics = pytest.importorskip("bdpy.evals.metrics")


def test_the_metrics_are_bdpys_nan_columns_and_constant_rows_included():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(12, 50))
    pred = true + rng.normal(scale=2.0, size=true.shape)
    pred[:, 7] = np.nan  # a unit a decoder did not predict: dropped from every row, as bdpy does
    with pytest.warns(UserWarning):
        expected_r, expected_id = metrics.pattern_correlation(pred, true), metrics.pairwise_identification(pred, true)
    np.testing.assert_allclose(pattern_correlation(pred, true), expected_r, rtol=1e-12)
    assert np.array_equal(pairwise_identification(pred, true), expected_id)
    pred[3] = 1.0  # a constant reconstruction: its correlations are undefined and left out, as bdpy's remove_nan_dist does
    with pytest.warns(UserWarning):
        expected_id = metrics.pairwise_identification(pred, true)
    ours = pairwise_identification(pred, true)
    # that row has no comparison left: bdpy divides 0 by -1 (-0.0); it is undefined here (NaN, null in the JSON)
    assert np.isnan(ours[3]) and expected_id[3] == 0 and np.array_equal(np.delete(ours, 3), np.delete(expected_id, 3))
    by_hand = np.mean([np.linalg.norm(true[i] - 0) for i in range(12)])
    distances = [np.linalg.norm(true[i] - true[j]) for i in range(12) for j in range(i + 1, 12)]
    assert image_error(np.zeros_like(true), true) == pytest.approx(by_hand / np.mean(distances), rel=1e-12)


def write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def test_eval_reconstructions_per_subject_and_roi_equals_the_cookbooks_scores(capsys, tmp_path):
    rng = np.random.default_rng(1)
    labels = ["n01_1", "n02_2", "n03_3", "n04_4"]
    truth = {label: rng.integers(0, 256, (90, 120, 3), dtype=np.uint8) for label in labels}
    for label, array in truth.items():
        write(tmp_path / "true" / f"{label}.JPEG", array)
    groups = {("S1", "VC"): 0.5, ("S2", "V1"): 3.0}
    for (subject, roi), noise in groups.items():
        for label in labels:
            small = np.asarray(Image.fromarray(truth[label]).resize((64, 64)), dtype=np.float64)
            recon = np.clip(small + rng.normal(scale=noise * 40, size=small.shape), 0, 255).astype(np.uint8)
            write(tmp_path / "recon" / subject / roi / f"{label}.png", recon)
    code, out, err = run(capsys, "eval", "--reconstructions", tmp_path / "recon", "--true", tmp_path / "true", "--json", tmp_path / "s.json")
    assert code == 0, err
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["schema"] == "invertnet.reconstruction_scores" and record["schema_version"] == 1
    rows = {(row["subject"], row["roi"]): row for row in record["rows"]}
    assert set(rows) == set(groups)
    true_files = sorted((tmp_path / "true").glob("*.JPEG"))
    for (subject, roi), row in rows.items():  # recon_image_eval.py's reading, then bdpy's metrics
        recon_files = sorted((tmp_path / "recon" / subject / roi).glob("*.png"))
        size = Image.open(recon_files[0]).size
        true_images = np.vstack([np.array(Image.open(f).resize(size)).flatten() for f in true_files])
        recon_images = np.vstack([np.array(Image.open(f)).flatten() for f in recon_files])
        assert row["pixel_correlation"] == pytest.approx(np.nanmean(metrics.pattern_correlation(recon_images, true_images)), rel=1e-9)
        assert row["identification_accuracy"] == pytest.approx(np.nanmean(metrics.pairwise_identification(recon_images, true_images)), rel=1e-12)
        assert row["images"] == 4 and [image["label"] for image in row["per_image"]] == labels
    assert rows["S1", "VC"]["pixel_correlation"] > rows["S2", "V1"]["pixel_correlation"]
    assert "S1" in out and "ident. %" in out
    code, out, err = run(capsys, "eval", "--reconstructions", tmp_path / "recon", "--true", tmp_path / "true", "--encoder", "caffenet:random:0",
                         "--layer", "conv1,relu7", "--json", "-")
    assert code == 0, err
    from invertnet.decoded.scores import encoder_features, pixels
    from invertnet.encoders import load_encoder

    row = next(row for row in json.loads(out)["rows"] if row["subject"] == "S1")
    recon = np.stack([pixels(path) for path in sorted((tmp_path / "recon" / "S1" / "VC").glob("*.png"))])
    true = np.stack([pixels(path, (64, 64)) for path in true_files])
    ours, theirs = (encoder_features(load_encoder("caffenet:random:0"), images, ("relu7",))["relu7"] for images in (recon, true))
    assert row["features"]["relu7"]["correlation"] == pytest.approx(np.nanmean(metrics.pattern_correlation(ours, theirs)), rel=1e-9)
    assert row["features"]["relu7"]["identification_accuracy"] == pytest.approx(np.nanmean(metrics.pairwise_identification(ours, theirs)))
    assert set(row["features"]) == {"conv1", "relu7"}
    code, out, err = run(capsys, "eval", "--reconstructions", tmp_path / "recon", "--true", tmp_path / "true", "--encoder", "caffenet:random:0",
                         "--layer", "conv1,relu2,relu3,relu4,pool5,relu6,relu7,fc8")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80 and "S2" in out and "fc8" in out


def test_eval_reconstructions_refusals(capsys, tmp_path):
    arrays = [np.full((8, 8, 3), 10 * i, dtype=np.uint8) for i in range(3)]
    for i, array in enumerate(arrays):
        write(tmp_path / "recon" / f"recon_image-x{i}.png", array)  # the cookbook's names: the label follows the prefix
        write(tmp_path / "true" / f"x{i}.png", array)
    code, out, err = run(capsys, "eval", "--reconstructions", tmp_path / "recon", "--true", tmp_path / "true", "--json", "-")
    assert code == 0, err
    row = json.loads(out)["rows"][0]
    assert row["subject"] is None and row["roi"] is None and row["pixel_correlation"] is None  # constant images: undefined, null
    for i in range(2):
        write(tmp_path / "some" / f"x{i}.png", arrays[i])
    cases = [
        (["--true", str(tmp_path / "true")], "go together"),
        (["--reconstructions", str(tmp_path / "recon"), "--true", str(tmp_path / "true"), "--limit", "3"], "--limit does not apply to --reconstructions"),
        (["--reconstructions", str(tmp_path / "recon"), "--true", str(tmp_path / "true"), "--encoder", "caffenet:random:0"], "--layer L"),
        (["--reconstructions", str(tmp_path / "recon"), "--true", str(tmp_path / "some")], "no true image for x2"),
        ([], "--data is required"),
    ]
    for args, message in cases:
        code, out, err = run(capsys, "eval", *args)
        assert code != 0 and message in " ".join(err.split()), (args, err)
