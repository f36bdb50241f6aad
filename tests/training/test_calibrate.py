import itertools
import json

import pytest
from conftest import ALEXNET

from invertnet.cli import main
from invertnet.data.datasets import open_source
from invertnet.encoders import load_encoder
from invertnet.errors import InvertnetError
from invertnet.training import TrainConfig, Trainer
from invertnet.training.calibrate import REFERENCE_LAMBDA_FEAT, calibrate, crops, mean_pair_distance
from invertnet.training.losses import build_comparator, euclidean


@pytest.fixture(scope="module")
def images():
    return crops(open_source("synthetic", "train"), 6, 224)  # a fixed image set: the first six synthetic training images


def test_the_pair_distance_is_eq_2_averaged_over_every_pair(encoder, images):
    comparator = build_comparator("conv5", encoder)
    brute = [euclidean(comparator(images[i : i + 1] * 255.0), comparator(images[j : j + 1] * 255.0)).item() for i, j in itertools.combinations(range(6), 2)]
    assert mean_pair_distance(comparator, images, batch_size=4) == pytest.approx(sum(brute) / len(brute), rel=1e-5)


def test_calibration_scales_lambda_feat_by_the_ratio_of_the_distances(encoder):
    source = open_source("synthetic", "train")
    same = calibrate(source, encoder, "conv5", encoder, count=6)
    assert same.lambda_feat == pytest.approx(REFERENCE_LAMBDA_FEAT) and same.distance == same.reference_distance
    small = load_encoder("random-torchvision:0")  # PyTorch's initialisation: pool5 far smaller
    result = calibrate(source, small, "conv5", encoder, count=6)
    assert result.reference_distance == pytest.approx(same.distance)
    assert result.lambda_feat == pytest.approx(0.01 * same.distance / result.distance)
    assert result.lambda_feat > 100 * REFERENCE_LAMBDA_FEAT  # its features are more than ten times smaller
    with pytest.raises(InvertnetError, match="at least 2"):
        calibrate(source, encoder, "conv5", encoder, count=1)
    with pytest.raises(InvertnetError, match="no feature term"):
        calibrate(source, encoder, "none", encoder, count=6)


def test_a_feature_term_that_weighs_nothing_is_reported_at_train_start(tmp_path):
    def trainer(encoder):
        return Trainer(TrainConfig(layer="fc6", data="synthetic", out=str(tmp_path / encoder.replace(":", "")), steps=1, batch_size=2,
                                   encoder=encoder, device="cpu", workers=0, fc_width=64))
    assert trainer(ALEXNET).warnings == []
    warnings = trainer("random-torchvision:0").warnings
    assert len(warnings) == 1 and "invertnet calibrate" in warnings[0] and "would steer nothing" in warnings[0]


def test_calibrate_command(capsys):
    code = main(["calibrate", "--data", "synthetic", "--encoder", ALEXNET, "--reference", "random-torchvision:0", "--images", "4",
                 "--device", "cpu", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["schema"] == "invertnet.calibrate" and result["schema_version"] == 1
    assert result["encoder"] == ALEXNET and result["reference"] == "random-torchvision:0" and result["images"] == 4
    assert result["lambda_feat"] == pytest.approx(0.01 * result["reference_distance"] / result["distance"])
    assert main(["calibrate", "--data", "synthetic", "--encoder", ALEXNET, "--reference", ALEXNET, "--images", "4", "--device", "cpu"]) == 0
    assert "--lambda-feat 0.01" in capsys.readouterr().out
