"""invertnet synthesize end to end on a tiny run: outputs, JSON, the same bytes for the same seed, refusals."""

import csv
import json

import numpy as np
import pytest
from conftest import ALEXNET, run
from PIL import Image



@pytest.mark.parametrize("method", ["gradient", "cma"])
def test_one_unit_with_json_strip_and_curve(capsys, trained_run, tmp_path, method):
    cma = ["--population", "4", "--sigma", "2"] if method == "cma" else []
    code, out, err = run(capsys, "synthesize", "--target", f"{ALEXNET}:fc8:3", "--weights", trained_run, "--method", method,
                         "--iterations", "3", *cma, "--data", "synthetic", "--limit", "4", "--out", tmp_path / "best.png",
                         "--json", tmp_path / "run.json", "--device", "cpu")
    assert code == 0, err
    written = out.split()
    assert [p.rsplit("/", 1)[-1] for p in written] == ["best.png", "best.strip.png", "best.curve.png", "best.code.npy", "run.json"]
    assert Image.open(written[0]).size == (224, 224)
    record = json.loads((tmp_path / "run.json").read_text())
    unit = record["units"][0]
    assert record["method"] == method and record["code"]["layer"] == "conv5" and record["code"]["dimensions"] == 256 * 6 * 6
    assert unit["target"] == f"{ALEXNET}:fc8:3" and len(unit["best"]) == len(unit["mean"]) == 3
    assert unit["evaluations"] == 3 * (1 if method == "gradient" else 4) and unit["natural_images"] == 4
    assert unit["best"][-1] == unit["activation"] and unit["code"]["min"] >= 0  # conv5 is rectified: the code stays >= 0
    assert f"{ALEXNET}:fc8:3: " in err and "images scored" in err
    settings = record["settings"]  # each method's own settings; the other's are null (they did not apply)
    if method == "cma":
        assert settings["population"] == 4 and settings["sigma"] == 2.0 and settings["start_lr"] is settings["decay"] is None
    else:
        assert settings["population"] is settings["sigma"] is None and settings["start_lr"] == 8.0 and settings["decay"] == 0.99


def test_same_seed_same_bytes_and_a_grid_for_several_units(capsys, trained_run, tmp_path):
    paths = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        code, _, err = run(capsys, "synthesize", "--target", f"{ALEXNET}:fc8:3,4", "--weights", trained_run, "--iterations", "2",
                           "--seed", seed, "--out", tmp_path / f"{name}.png", "--device", "cpu")
        assert code == 0, err
        paths.append(tmp_path / f"{name}.png")
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()
    width, height = Image.open(paths[0]).size
    assert width == 2 * 226 + 2 and height > 228  # two units side by side, labelled, under a title


@pytest.mark.parametrize(
    "target, extra, message",
    [(f"{ALEXNET}:conv9:1", [], "has no layer 'conv9'"), (f"{ALEXNET}:fc8:1000", [], "unit 1000 of fc8: the layer has 1000 units"),
     (f"{ALEXNET}:conv5:1", ["--position", "9,0"], "outside conv5's 6x6 map"), ("fc8:1", [], "write ENCODER:LAYER:UNIT"),
     (f"{ALEXNET}:fc8:1", ["--bound", "{tmp}/none.txt"], "none.txt"), (f"{ALEXNET}:fc8:1", ["--out", "{tmp}/x.gif"], "the suffix picks the format"),
     (f"{ALEXNET}:fc8:1", ["--iterations", "0"], "iterations (--iterations) must be between 1"),
     (f"{ALEXNET}:fc8:1", ["--sigma", "nan"], "--sigma applies to --method cma only (CMA-ES's step size and constants), not gradient"),
     (f"{ALEXNET}:fc8:1", ["--sigma", "1", "--cma-variant", "xdream"], "--sigma and --cma-variant apply to --method cma only"),
     (f"{ALEXNET}:fc8:1", ["--method", "ga", "--sigma", "1"], "--sigma applies to --method cma only"),
     (f"{ALEXNET}:fc8:1", ["--population", "5"], "--population applies to --method cma and ga (codes per generation), not gradient"),
     (f"{ALEXNET}:fc8:1", ["--keep-all"], "--keep-all keeps the images of cma's and ga's generations"),
     (f"{ALEXNET}:fc8:1", ["--resume"], "--resume applies to scores from outside"),
     (f"{ALEXNET}:fc8:1", ["--score-timeout", "5"], "--score-timeout applies to scores from outside"),
     (f"{ALEXNET}:fc8:1", ["--score-command", "true"], "give one of --target (a network's unit), --score-command or --score-folder"),
     (f"{ALEXNET}:fc8:1", ["--method", "ga", "--population", "1"], "(--population) must be between 2 and 10,000, got 1"),
     (f"{ALEXNET}:fc8:1", ["--method", "cma", "--sigma", "nan"], "sigma (--sigma), the initial step size, must be a positive number, got nan"),
     (f"{ALEXNET}:fc8:1", ["--method", "cma", "--population", "100000000"], "must be between 2 and 10,000, got 100,000,000")],
)
def test_refusals_are_one_line(capsys, trained_run, tmp_path, target, extra, message):
    filled = [word.format(tmp=tmp_path) for word in extra]
    out = [] if "--out" in extra else ["--out", tmp_path / "o.png"]
    iterations = [] if "--iterations" in extra else ["--iterations", "1"]
    code, _, err = run(capsys, "synthesize", "--target", target, "--weights", trained_run, *iterations, "--device", "cpu", *out, *filled)
    assert code == 1 and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("extra", [["--sigma", "nan"], ["--method", "cma", "--population", "1"], ["--method", "cma", "--sigma", "-1"]])
def test_option_values_are_refused_before_any_network_is_read(capsys, tmp_path, extra):
    code, _, err = run(capsys, "synthesize", "--target", f"{ALEXNET}:fc8:1", "--weights", tmp_path / "absent", "--out", tmp_path / "o.png", *extra)
    assert code == 1 and "--" in err and "absent" not in err and err.count("\n") == 1, err


def test_a_torchvision_classifier_as_the_target(capsys, trained_run, tmp_path):
    code, _, err = run(capsys, "synthesize", "--target", "resnet50:random:0:layer4:5", "--position", "1,2", "--weights", trained_run,
                       "--iterations", "2", "--data", "synthetic", "--limit", "2", "--out", tmp_path / "r.png", "--json", tmp_path / "r.json",
                       "--device", "cpu")
    assert code == 0, err
    unit = json.loads((tmp_path / "r.json").read_text())["units"][0]
    assert unit["target"] == "resnet50:random:0:layer4:5 at 1,2" and unit["natural_images"] == 2 and len(unit["best"]) == 2
    code, _, err = run(capsys, "synthesize", "--target", "resnet50:random:0:fc8:1", "--weights", trained_run, "--iterations", "1",
                       "--out", tmp_path / "o.png", "--device", "cpu")
    assert code == 1 and "resnet50:random:0 has no layer 'fc8'; its layers: conv1 64x112x112, pool1" in err and err.count("\n") == 1, err


def test_ga_keeps_every_image_of_every_unit(capsys, trained_run, tmp_path):
    code, out, err = run(capsys, "synthesize", "--target", f"{ALEXNET}:fc8:3,4", "--weights", trained_run, "--method", "ga",
                         "--population", "4", "--iterations", "2", "--keep-all", "--out", tmp_path / "g.png", "--json", tmp_path / "g.json",
                         "--device", "cpu")
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "g.scores.csv").open()))
    assert [(r["unit"], r["generation"], r["index"]) for r in rows][:5] == [("3", "0", "0"), ("3", "0", "1"), ("3", "0", "2"), ("3", "0", "3"), ("3", "1", "0")]
    assert len(rows) == 16 and {r["unit"] for r in rows} == {"3", "4"}
    assert rows[-1]["file"] == str(tmp_path / "g.all" / "unit_4" / "gen_0001" / "003.png") and Image.open(rows[-1]["file"]).size == (224, 224)
    record = json.loads((tmp_path / "g.json").read_text())
    for unit in record["units"]:
        scores = [float(r["score"]) for r in rows if r["unit"] == str(unit["unit"])]
        assert unit["activation"] == max(scores) and unit["evaluations"] == 8
    assert record["settings"]["population"] == 4 and record["settings"]["conserve"] == 1 and record["score"]["kind"] == "unit"
    assert record["files"]["state"] is None and record["files"]["scores_csv"] == str(tmp_path / "g.scores.csv")
    assert np.load(tmp_path / "g.code.npy").shape == (2, 256, 6, 6)
