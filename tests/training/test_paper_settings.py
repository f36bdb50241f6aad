"""The authors' settings beside invertnet's defaults: prob, caffe crops, unclamped eval, --preset paper, D's weight decay."""

import json

import pytest
import torch
from conftest import ALEXNET
from torchvision.transforms.v2 import functional as TF

from invertnet.bench import training_batch
from invertnet.cli import main
from invertnet.data.datasets import CROP_STYLES, eval_crop, open_source, train_crop, train_crops
from invertnet.encoders.caffenet import random_caffenet
from invertnet.evaluation.protocol import Method, evaluate_methods
from invertnet.evaluation.report import paper_rows
from invertnet.models import Generator
from invertnet.training import TrainConfig, Trainer
from invertnet.training.config import PAPER_SETTINGS

CAFFE = CROP_STYLES["caffe"]


def test_prob_is_the_softmax_of_fc8_in_both_encoders(encoder):
    images = torch.rand(2, 3, 224, 224)
    both = encoder(images, ("fc8", "prob"))
    torch.testing.assert_close(both["prob"], torch.softmax(both["fc8"], 1))
    assert torch.allclose(both["prob"].sum(1), torch.ones(2)) and torch.equal(encoder(images, "prob"), both["prob"])
    caffenet = random_caffenet(0)
    crops = torch.rand(2, 3, 227, 227)
    torch.testing.assert_close(caffenet(crops, "prob"), torch.softmax(caffenet(crops, "fc8"), 1))
    assert Generator("prob")(both["prob"]).shape == (2, 3, 224, 224)


def test_the_paper_s_fc8_figures_are_shown_for_fc8_and_prob():
    fc8, prob = paper_rows(["fc8"]), paper_rows(["prob"])
    assert [row[4:6] for row in fc8] == [row[4:6] for row in prob] and ["63", "29"] in [row[4:6] for row in prob]
    assert ["51", "57"] in [row[4:6] for row in paper_rows(["fc6"])]  # VideoNet conv5


def test_caffe_crops_squash_to_256_square_and_never_mirror():
    image = torch.rand(3, 300, 500)
    squashed = TF.resize(image, [256, 256], interpolation=TF.InterpolationMode.BILINEAR, antialias=True).clamp(0, 1)
    windows = squashed.unfold(1, 227, 1).unfold(2, 227, 1)  # every 227 window of the squashed image, unmirrored
    for seed in range(8):
        crop = train_crop(image, torch.Generator().manual_seed(seed), 227, style=CAFFE)
        top, left = [int(v) for v in (crop[0, 0, 0] == windows[0, :, :, 0, 0]).nonzero()[0]]
        assert torch.equal(crop, windows[:, top, left].permute(0, 1, 2))
    seeds = list(range(6))
    batched = train_crops(image.expand(6, -1, -1, -1), seeds, 227, style=CAFFE)
    assert torch.equal(batched, torch.stack([train_crop(image, torch.Generator().manual_seed(s), 227, style=CAFFE) for s in seeds]))
    center = eval_crop(image, 227, style=CAFFE)
    assert torch.equal(center, (TF.center_crop(squashed, [227, 227]) * 255).round() / 255)


def test_unclamped_evaluation_measures_the_raw_output(encoder):
    source = open_source("synthetic", "val")
    bright = Method("too bright", "fc6", lambda features: torch.full((len(features), 3, 224, 224), 2.0), "test")
    clamped = evaluate_methods([bright], encoder, source, limit=4)[0]
    raw = evaluate_methods([bright], encoder, source, limit=4, clamp=False)[0]
    images = torch.stack([eval_crop(source.load(i)) for i in range(4)])
    for result, value in ((clamped, 1.0), (raw, 2.0)):
        expected = ((images - value) * 255).flatten(1).norm(dim=1)
        assert result.image_distances == pytest.approx(expected.tolist(), rel=2e-4)
    assert raw.psnr == clamped.psnr and not raw.clamped and clamped.clamped  # quality metrics see the clipped image either way


def test_the_paper_preset_sets_the_authors_training_and_given_options_override_it(tmp_path):
    run = tmp_path / "r"
    assert main(["train", "--layer", "conv5", "--data", "synthetic", "--out", str(run), "--preset", "paper", "--encoder", "caffenet:random:0",
                 "--device", "cpu", "--steps", "1", "--batch-size", "2", "--sample-every", "100"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["encoder"] == "caffenet:random:0"  # given: overrides the preset's caffenet
    assert (config["crops"], config["precision"], config["d_weight_decay"], config["gate"]) == ("caffe", "fp32", 4e-4, "script")
    assert config["lr_milestones"] == [300_000, 500_000, 700_000, 900_000, 1_100_000] and PAPER_SETTINGS["encoder"] == "caffenet"


def test_the_discriminator_s_weight_decay_takes_effect(tmp_path):
    def discriminator_after_a_step(decay):
        trainer = Trainer(TrainConfig(layer="fc6", data="synthetic", out=str(tmp_path / str(decay)), steps=1, batch_size=2, encoder=ALEXNET,
                                      device="cpu", workers=0, d_weight_decay=decay, fc_width=64))
        assert trainer.d_optimizer.param_groups[0]["weight_decay"] == decay and trainer.g_optimizer.param_groups[0]["weight_decay"] == 0
        trainer.train_step(training_batch(2, torch.device("cpu")))
        return torch.cat([p.detach().flatten() for p in trainer.discriminator.parameters()])

    plain, decayed = discriminator_after_a_step(0.0), discriminator_after_a_step(4e-4)
    assert not torch.equal(plain, decayed)


def test_eval_preset_paper_is_recorded_in_the_json(tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(TrainConfig(layer="fc6", data="synthetic", out=str(run), steps=1, batch_size=2, encoder=ALEXNET, device="cpu", workers=0,
                        fc_width=64)).run()
    assert main(["eval", "--data", "synthetic", "--weights", str(run), "--encoder", ALEXNET, "--limit", "3", "--device", "cpu",
                 "--preset", "paper", "--json", "-"]) == 0
    record = json.loads(capsys.readouterr().out)
    result = record["results"][0]
    assert result["crops"] == "caffe" and result["clamped"] is False and record["settings"]["preset"] == "paper"
