"""``train --log tensorboard``: TensorBoard event files with every term raw and weighted, the gate, the speed, the rate
and the sample grids, equal to metrics.jsonl; resumed without a doubled stretch; a clear error without the package."""

import json
import sys

import pytest
from conftest import ALEXNET

from invertnet.cli import main
from invertnet.errors import InvertnetError
from invertnet.training import TrainConfig

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _events(folder):
    events = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_the_run_s_curves_and_samples_are_in_tensorboard(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "--layer", "fc8", "--fc-width", "64", "--data", "synthetic", "--encoder", ALEXNET, "--batch-size", "2",
              "--device", "cpu",
              "--log-every", "1", "--sample-every", "2", "--loss", "adv+image", "--out", str(out)]
    assert main([*common, "--steps", "2", "--log", "tensorboard"]) == 0, capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--steps", "3"]) == 0, capsys.readouterr().err  # the log setting is the run's
    events = _events(out / "tensorboard")
    tags = set(events.Tags()["scalars"])
    assert {"loss/total", "loss/discriminator", "raw/img", "weighted/img", "raw/adv", "weighted/adv", "gate/d_update_rate",
            "speed/images_per_s", "lr/generator", "lr/discriminator"} <= tags
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for key, tag in (("loss", "loss/total"), ("img_weighted", "weighted/img"), ("adv", "raw/adv")):
        logged = [(event.step, event.value) for event in events.Scalars(tag)]
        assert logged == [(record["step"], pytest.approx(record[key], rel=1e-6)) for record in records], tag  # each step once, as in the file
    assert [event.step for event in events.Images("samples")] == [0, 2, 3]


def test_without_the_package_the_run_is_refused_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if tensorboard were not installed
    config = TrainConfig(layer="fc8", fc_width=64, data="synthetic", out=str(tmp_path / "run"), steps=1, batch_size=2, encoder=ALEXNET,
                         log="tensorboard")
    with pytest.raises(InvertnetError, match=r"--log tensorboard needs the tensorboard package .*pip install 'invertnet\[tensorboard\]'"):
        config.validate()
    assert not (tmp_path / "run").exists()
    with pytest.raises(InvertnetError, match=r"unknown log \(--log\) 'csv': choose one of jsonl, tensorboard"):
        TrainConfig(layer="conv5", data="synthetic", out=str(tmp_path / "run"), steps=1, encoder=ALEXNET, log="csv").validate()
