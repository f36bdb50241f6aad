import itertools

import numpy as np
import pytest
import torch
from conftest import ALEXNET

from invertnet.data.datasets import DeadLeaves, eval_crop
from invertnet.data.imageio import load_image
from invertnet.evaluation.lpips import LPIPS
from invertnet.evaluation.optimize import OptimizeConfig
from invertnet.evaluation.protocol import (
    PAPER_TABLE2,
    evaluate,
    evaluate_methods,
    generator_method,
    mean_image,
    mean_method,
    optimize_method,
)
from invertnet.evaluation.quality import psnr
from invertnet.inversion import Inverter


def test_figures_can_be_recomputed_from_the_saved_files(trained_run, tmp_path):
    inverter = Inverter.load("conv5", trained_run, encoder=ALEXNET, device="cpu")
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
    assert set(result.summary()) >= {"image_error_fraction", "feature_error_fraction", "n", "layer", "checkpoint", "encoder"}


def test_paper_numbers_are_table2():
    assert PAPER_TABLE2["fc6"]["DeePSiM (AlexNet conv5)"] == (55, 48)
    assert PAPER_TABLE2["fc8"]["Mahendran & Vedaldi"] == (84, 9)
    assert PAPER_TABLE2["conv5"]["Dosovitskiy & Brox"] == (35, None)
    assert PAPER_TABLE2["fc6"]["DeePSiM, image loss (--loss image)"] == (46, 79)  # the paper's "Our image loss" row
    assert PAPER_TABLE2["fc6"]["DeePSiM (VideoNet conv5)"] == (51, 57)


def test_several_methods_in_one_pass(trained_run, encoder, tmp_path):
    inverter = Inverter.load("conv5", trained_run, encoder=encoder, device="cpu")
    methods = [generator_method(inverter), optimize_method(encoder, "fc8", OptimizeConfig().scaled(3))]
    lpips = LPIPS(encoder)  # any backbone exercises the column; real use takes the ImageNet one
    results = evaluate_methods(methods, encoder, DeadLeaves("val"), limit=3, batch_size=2, lpips=lpips,
                               save_dir=tmp_path, thumbnails=(tmp_path / "thumbs", 2))
    assert [r.layer for r in results] == ["conv5", "fc8"]
    assert results[0].comparator == "conv5" and results[0].method.startswith("full: ")
    assert results[0].image_normalizer == results[1].image_normalizer  # the same inputs
    assert results[0].feature_normalizer != results[1].feature_normalizer  # normalised per layer
    for r in results:
        assert r.lpips is not None and r.lpips >= 0 and 0 <= r.top1_agreement <= r.top5_agreement <= 1
        assert len(r.per_image["psnr"]) == 3 and r.psnr == pytest.approx(np.mean(r.per_image["psnr"]))
    assert len(list((tmp_path / "input").glob("*.png"))) == 3
    folders = sorted(p.name for p in tmp_path.glob("recon-*"))
    assert len(folders) == 2 and folders[0].startswith("recon-0-full") and folders[1].startswith("recon-1-Mahendran")
    assert len(list((tmp_path / "thumbs" / "method1").glob("*.png"))) == 2
    # one image's figures by hand
    x = eval_crop(DeadLeaves("val").load(0))
    r = load_image(next((tmp_path).glob("recon-0-*")) / f"{results[0].names[0]}.png")
    assert results[0].per_image["psnr"][0] == pytest.approx(psnr(r[None], x[None]).item(), abs=1e-3)


def test_mean_image_is_the_pixelwise_mean_of_the_eval_crops():
    source = DeadLeaves("train")
    crops = torch.stack([eval_crop(source.load(i)) for i in range(5)])
    assert torch.allclose(mean_image(source, 5, batch_size=2), crops.mean(0), atol=1e-6)


def test_mean_method_reconstructs_every_input_as_the_mean():
    mean = torch.rand(3, 224, 224)
    method = mean_method(mean, "fc6", "mean")
    recon = method.reconstruct(torch.zeros(4, 4096))
    assert recon.shape == (4, 3, 224, 224) and torch.equal(recon[3], mean)


def test_sharpness_and_the_lattice_check_in_eval(encoder):
    """The input itself has all of its detail and no lattice; a blur has little; a checkerboard laid over it is named."""
    from invertnet.evaluation.protocol import Method
    from invertnet.evaluation.spectrum import power_spectra, sharpness

    source = DeadLeaves("val")
    images = torch.stack([eval_crop(source.load(i)) for i in range(4)])
    lookup = lambda features: images[: len(features)]  # noqa: E731 - the first images, in eval's order (batch_size covers them)
    checker = (torch.arange(224)[:, None] + torch.arange(224)[None, :]) % 2 * (6 / 255)
    methods = [
        Method("copy", "conv5", lookup, "-"),
        Method("blur", "conv5", lambda f: torch.nn.functional.avg_pool2d(lookup(f), 7, stride=1, padding=3, count_include_pad=False), "-"),
        Method("checker", "conv5", lambda f: (lookup(f) * 0.9 + checker).clamp(0, 1), "-"),
    ]
    copy, blur, checkered = evaluate_methods(methods, encoder, source, limit=4, batch_size=4)
    assert copy.sharpness == pytest.approx(1.0, abs=1e-3) and not copy.periodicity["lattice"]
    assert blur.sharpness < 0.2 and not blur.periodicity["lattice"]
    assert checkered.periodicity["lattice"] and checkered.periodicity["period_px"] == pytest.approx(2 ** 0.5, rel=0.01)
    expected = sharpness(methods[2].reconstruct(torch.zeros(4)), images)  # per image, on the 8-bit images eval measures
    assert checkered.per_image["sharpness"] == pytest.approx(expected.tolist(), rel=0.05)
    assert power_spectra(images).shape == (4, 224, 113)
