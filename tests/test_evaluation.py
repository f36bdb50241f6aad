import itertools

import numpy as np
import pytest
import torch

from conftest import ALEXNET
from invertnet.data import DeadLeaves, eval_crop
from invertnet.evaluation import PAPER_TABLE2, evaluate
from invertnet.imageio import load_image
from invertnet.inversion import Inverter


def test_figures_can_be_recomputed_from_the_saved_files(trained_run, tmp_path):
    inverter = Inverter.load("conv5", trained_run, alexnet=ALEXNET, device="cpu")
    result = evaluate(inverter, DeadLeaves("val"), limit=5, batch_size=2, save_dir=tmp_path, data_name="synthetic")
    assert result.n == 5 and result.names[0] == "synthetic-val-000000"
    inputs = np.stack([load_image(tmp_path / "input" / f"{n}.png").numpy().ravel() * 255 for n in result.names])
    recons = np.stack([load_image(tmp_path / "recon" / f"{n}.png").numpy().ravel() * 255 for n in result.names])
    normaliser = np.mean([np.linalg.norm(inputs[i] - inputs[j]) for i, j in itertools.permutations(range(5), 2)])
    errors = np.linalg.norm(recons - inputs, axis=1)
    assert result.image_normalizer == pytest.approx(normaliser, rel=1e-4)
    assert result.image_error == pytest.approx(errors.mean() / normaliser, rel=1e-4)
    # the saved input is exactly the evaluation crop
    assert np.allclose(inputs[0] / 255, eval_crop(DeadLeaves("val").load(0)).numpy().ravel(), atol=1e-6)
    # feature space, by brute force from the same files
    features_in = inverter.features(torch.from_numpy(inputs.reshape(5, 3, 224, 224) / 255).float()).flatten(1).numpy()
    features_re = inverter.features(torch.from_numpy(recons.reshape(5, 3, 224, 224) / 255).float()).flatten(1).numpy()
    feature_normaliser = np.mean([np.linalg.norm(features_in[i] - features_in[j]) for i, j in itertools.permutations(range(5), 2)])
    expected = np.linalg.norm(features_re - features_in, axis=1).mean() / feature_normaliser
    assert result.feature_error == pytest.approx(expected, rel=1e-3)
    assert set(result.summary()) >= {"image_error", "feature_error", "n", "layer", "checkpoint", "alexnet"}


def test_paper_numbers_are_table2():
    assert PAPER_TABLE2["fc6"]["DeePSiM (AlexNet conv5)"] == (55, 48)
    assert PAPER_TABLE2["fc8"]["Mahendran & Vedaldi"] == (84, 9)
    assert PAPER_TABLE2["conv5"]["Dosovitskiy & Brox"] == (35, None)
