"""Every command with an encoder other than AlexNet: ResNet-50 with random weights, a generator for its layer4 map (issue 31)."""

import json
import shutil

import pytest
from PIL import Image
from conftest import run

from invertnet.cli import main
from invertnet.weights.checkpoint import load_checkpoint

pytestmark = pytest.mark.xdist_group("big_temp")  # its runs hold 0.4 GB or more of temporary files: one such test at a time

ENCODER = "resnet50:random:0"


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("resnet") / "layer4"
    code = main(["train", "--encoder", ENCODER, "--layer", "layer4", "--data", "synthetic", "--steps", "2", "--batch-size", "2",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    yield out
    shutil.rmtree(out.parent)  # ~0.4 GB (a 17.7M-weight generator, D and both Adam states): not kept for the modules after this one


def test_train_records_the_encoder_and_its_geometry(resnet_run):
    checkpoint = load_checkpoint(resnet_run / "checkpoint.safetensors", tensors=False)
    assert checkpoint.encoder == ENCODER and checkpoint.layer == "layer4"
    assert checkpoint.geometry.feature_shape("layer4") == (2048, 7, 7) and checkpoint.geometry.input_size == 224
    config = json.loads((resnet_run / "config.json").read_text())
    assert config["encoder"] == ENCODER and config["loss_config"]["comparator"] == "layer3"  # ResNet-50's own mid-level comparator


def test_resume_invert_reencode_interpolate(capsys, resnet_run, pictures, tmp_path):
    code, out, err = run(capsys, "train", "--out", resnet_run, "--resume", "--steps", "3")
    assert code == 0, err
    code, out, err = run(capsys, "invert", *pictures, "--weights", resnet_run, "--out", tmp_path)
    assert code == 0 and [Image.open(p).size for p in out.split()] == [(224, 224)] * 2, err
    code, out, err = run(capsys, "reencode", pictures[0], "--weights", resnet_run, "--iterations", "2", "--out", tmp_path / "r.png")
    assert code == 0, err
    code, out, err = run(capsys, "interpolate", *pictures, "--weights", resnet_run, "--frames", "3", "--out", tmp_path / "i.png")
    assert code == 0, err


def test_eval_in_the_encoders_own_feature_space_without_the_papers_rows(capsys, resnet_run, tmp_path):
    code, out, err = run(capsys, "eval", "--data", "synthetic", "--split", "val", "--limit", "4", "--weights", resnet_run,
                         "--method", "generator", "--method", "mean", "--mean-data", "synthetic", "--mean-images", "8", "--json", tmp_path / "e.json")
    assert code == 0, err
    results = json.loads((tmp_path / "e.json").read_text())["results"]
    assert [r["layer"] for r in results] == ["layer4", "layer4"] and all(r["encoder"] == ENCODER for r in results)
    assert "DeePSiM" not in out and "Paper:" not in out  # Table 2's rows are AlexNet's: not beside a ResNet's


def test_figure_layers_and_synthesize(capsys, resnet_run, pictures, tmp_path):
    code, out, err = run(capsys, "figure", "layers", *pictures, "--weights", resnet_run, "--out", tmp_path / "f.png")
    assert code == 0, err
    code, out, err = run(capsys, "synthesize", "--target", f"{ENCODER}:fc:1", "--weights", resnet_run, "--method", "gradient",
                         "--iterations", "2", "--data", "synthetic", "--limit", "4", "--out", tmp_path / "s.png", "--json", tmp_path / "s.json")
    assert code == 0, err


def test_a_layer_of_another_encoder_is_refused_with_the_list(capsys, resnet_run, pictures):
    code, out, err = run(capsys, "train", "--encoder", ENCODER, "--layer", "conv5", "--data", "synthetic", "--out", "unused")
    assert code == 1 and "has no layer 'conv5'; its layers: conv1 64x112x112" in err
    code, out, err = run(capsys, "invert", pictures[0], "--encoder", ENCODER, "--layer", "layer2")
    assert code == 1 and "no generator for layer2" in err and "resnet50/layer2.safetensors" in err
    code, out, err = run(capsys, "train", "--encoder", ENCODER, "--layer", "layer4", "--comparator", "conv5", "--data", "synthetic", "--out", "u")
    assert code == 1 and "unknown comparator 'conv5': choose a layer of the encoder (conv1, pool1" in err
