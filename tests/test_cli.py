"""Every command end to end, and every bad input: one line on stderr, a non-zero exit, no traceback."""

import csv
import functools
import json
import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import ALEXNET, progress_line, run, write_images
from PIL import Image

from invertnet import __version__
from invertnet.data.captions import LABEL_WIDTH, LINE, labelled_rows
from invertnet.data.imageio import save_image
from invertnet.weights.checkpoint import load_checkpoint


def test_version_is_eager(capsys):
    code, out, _ = run(capsys, "--version", "train")
    assert code == 0 and out.strip() == f"invertnet {__version__}"


def test_python_dash_m_and_console_script():
    result = subprocess.run([sys.executable, "-m", "invertnet", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and __version__ in result.stdout


def test_train_then_resume(capsys, tmp_path, pictures):
    out = tmp_path / "run"
    common = ("--layer", "fc8", "--fc-width", "32", "--data", "synthetic", "--out", out, "--batch-size", "2", "--encoder", ALEXNET,
              "--device", "cpu")
    code, stdout, err = run(capsys, "train", *common, "--steps", "1")
    assert code == 0, err
    assert stdout.strip() == str(out / "generator.safetensors")
    assert "step 1/1" in err and "img/s" in err
    assert json.loads((out / "config.json").read_text())["fc_width"] == 32
    generator = load_checkpoint(out / "generator.safetensors").module_state("generator")
    assert [generator[f"head.{i}.weight"].shape for i in (0, 2, 4)] == [(32, 1000), (32, 32), (4096, 32)]  # fc8 -> 32 -> 32 -> defc5
    code, _, err = run(capsys, "train", "--out", out, "--resume", "--steps", "2", "--fc-width", "64")
    assert code == 1 and "--fc-width" in err and "settings it was started with" in err
    code, _, err = run(capsys, "train", "--out", out, "--resume", "--steps", "2", "--device", "cpu")
    assert code == 0 and "resuming" in err
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 2
    code, _, err = run(capsys, "train", *common, "--steps", "3")
    assert code == 1 and "pass --resume" in err
    code, written, err = run(capsys, "invert", pictures[0], "--weights", out, "--out", tmp_path / "o")  # the width comes from the run
    assert code == 0 and Image.open(written.strip()).size == (224, 224), err


@pytest.mark.parametrize("layer, width, message", [
    ("conv5", "64", "the conv5 generator has no fully connected layers: fc_width \\(--fc-width\\) can only be 4096"),
    ("fc6", "0", r"fc_width \(--fc-width\) must be an integer from 1 to 16384, got 0"),
])
def test_a_width_the_generator_cannot_have_is_refused(capsys, tmp_path, layer, width, message):
    code, _, err = run(capsys, "train", "--layer", layer, "--fc-width", width, "--data", "synthetic", "--out", tmp_path / "run",
                       "--encoder", ALEXNET, "--device", "cpu")
    assert code == 1 and re.search(message, err) and not (tmp_path / "run").exists(), err


def test_invert(capsys, trained_run, pictures, tmp_path):
    code, out, err = run(capsys, "invert", *pictures, "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET, "--out", tmp_path / "o")
    assert code == 0, err
    written = out.split()
    assert [p.split("/")[-1] for p in written] == ["p0.conv5.png", "p1.conv5.png"]
    assert Image.open(written[0]).size == (224, 224)
    code, out, _ = run(capsys, "invert", pictures[0], "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET,
                       "--side-by-side", "--out", tmp_path / "pair.png")
    width, height = Image.open(out.strip()).size
    assert code == 0 and width == 2 * 224 + 6 and height > 228  # the column labels above


def test_reencode(capsys, trained_run, pictures, tmp_path):
    code, out, err = run(capsys, "reencode", pictures[0], "--layer", "conv5", "--iterations", "3", "--weights", trained_run,
                         "--encoder", ALEXNET, "--out", tmp_path / "r.png")
    assert code == 0, err
    width, height = Image.open(out.strip()).size
    assert width == 4 * 224 + 5 * 2 and height > 228  # input and 3 iterates, labelled above


def test_interpolate_with_gif(capsys, trained_run, pictures, tmp_path):
    code, out, err = run(capsys, "interpolate", *pictures, "--layer", "conv5", "--frames", "4", "--weights", trained_run,
                         "--encoder", ALEXNET, "--out", tmp_path / "i.png", "--gif")
    assert code == 0, err
    strip_path, gif_path = out.split()
    width, height = Image.open(strip_path).size
    assert width == 6 * 224 + 7 * 2 and height > 228  # A, 4 frames, B, with a title and column labels
    assert Image.open(gif_path).n_frames == 6  # 4 forwards, 2 back


def test_eval(capsys, trained_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet weights: LPIPS unavailable, the rest prints
    code, out, err = run(capsys, "eval", "--data", "synthetic", "--split", "val", "--layer", "conv5", "--weights", trained_run,
                         "--encoder", ALEXNET, "--limit", "4", "--json", tmp_path / "r.json", "--save-reconstructions", tmp_path / "rec")
    assert code == 0, err
    lpips_lines = [line for line in err.splitlines() if "LPIPS" in line]
    assert len(lpips_lines) == 1 and "alexnet-owt-7be5be79.pth (absent;" in lpips_lines[0] and "random:SEED" not in err  # one line, the file
    assert "full: conv5" in out and "paper: M&V" in out and "sharp %" in out and "lattice" in out  # the method as preset: run
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["schema"] == "invertnet.eval" and record["schema_version"] == 1 and set(record) == {
        "schema", "schema_version", "invertnet_version", "settings", "results"}  # no copy of the first method at the top
    assert record["settings"]["limit"] == 4 and record["settings"]["split"] == "val" and record["settings"]["seed"] is None
    figures = record["results"][0]
    assert figures["n"] == 4 and figures["layer"] == "conv5" and figures["encoder"] == ALEXNET and figures["comparator"] == "conv5"
    assert 0 < figures["image_error_fraction"] < 5 and 0 < figures["feature_error_fraction"] < 5 and figures["lpips"] is None
    assert figures["lpips_unavailable"] == lpips_lines[0].removeprefix("LPIPS unavailable: ")  # the reason, in the JSON
    assert 0 < figures["sharpness_ratio"] and set(figures["periodicity"]) == {"frequency", "period_px", "excess", "amplitude_levels", "lattice"}
    assert len(list((tmp_path / "rec" / "recon").glob("*.png"))) == 4


def test_eval_does_not_mix_its_pictures_with_an_earlier_evaluations(capsys, trained_run, tmp_path):
    (tmp_path / "rec" / "recon-0-old").mkdir(parents=True)
    code, out, err = run(capsys, "eval", "--data", "synthetic", "--weights", trained_run, "--encoder", ALEXNET, "--limit", "2",
                         "--save-reconstructions", tmp_path / "rec")
    assert code == 1 and "--save-reconstructions" in err and "is not empty" in err and err.count("\n") == 1


def test_eval_many_methods_with_csv_and_html(capsys, trained_run, tmp_path):
    code, out, err = run(capsys, "eval", "--data", "synthetic", "--weights", trained_run, "--weights", trained_run / "checkpoint.safetensors",
                         "--method", "generator", "--method", "optimize", "--iterations", "2", "--encoder", ALEXNET,
                         "--limit", "3", "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv", "--html", tmp_path / "report")
    assert code == 0, err
    assert out.count("full: conv5") == 2 and "M&V optimize" in out
    figures = json.loads((tmp_path / "r.json").read_text())
    assert [r["checkpoint"] for r in figures["results"]][2] == "optimize"
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == 3 * 3 and {"method", "encoder", "image", "image_error_fraction", "psnr_db", "ssim", "ms_ssim", "lpips", "top1_fraction", "top5_fraction",
                                 "sharpness_ratio"} <= set(rows[0])
    assert all(row["lpips"] == "" for row in rows) and "nan" not in (tmp_path / "r.csv").read_text()  # not measured: empty
    page = (tmp_path / "report" / "index.html").read_text()
    assert "<table>" in page and "Mahendran &amp; Vedaldi" in page
    assert "src='http" not in page and "<script" not in page and "<link" not in page  # viewable offline
    for name in ("input", "method0", "method2"):
        assert len(list((tmp_path / "report" / "images" / name).glob("*.png"))) == 3


def test_eval_mean_image_baseline(capsys, trained_run, tmp_path):
    code, out, err = run(capsys, "eval", "--data", "synthetic", "--weights", trained_run, "--method", "generator", "--method", "mean",
                         "--mean-images", "6", "--encoder", ALEXNET, "--limit", "3", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "mean image" in out
    mean_row = json.loads((tmp_path / "r.json").read_text())["results"][1]
    assert mean_row["checkpoint"] == "mean of 6 images of synthetic (train)" and mean_row["layer"] == "conv5"
    assert 0 < mean_row["image_error_fraction"] < 2


def test_the_mean_image_never_comes_from_the_test_set(capsys, trained_run, tmp_path):
    write_images(tmp_path / "test", 3, seed=1)
    write_images(tmp_path / "train", 4, seed=2)
    common = ("eval", "--data", tmp_path / "test", "--method", "mean", "--layer", "conv5", "--encoder", ALEXNET)
    code, _, err = run(capsys, *common)
    assert code == 1 and "--method mean needs training images: " in err and "the test set itself; pass --mean-data FOLDER" in err
    code, _, err = run(capsys, *common, "--mean-data", tmp_path / "test" / ".")
    assert code == 1 and "is the test set (--data)" in err
    code, _, err = run(capsys, *common, "--mean-data", tmp_path / "train", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["checkpoint"] == f"mean of 4 images of {tmp_path / 'train'}"
    code, _, err = run(capsys, "eval", "--data", "synthetic", "--weights", trained_run, "--mean-data", tmp_path / "train")
    assert code == 1 and "--mean-data applies to --method mean" in err


def test_discriminator_options_are_refused_without_an_adversarial_term(capsys, tmp_path):
    for flags in (("--gate", "paper"), ("--gate-stop", "0.3"), ("--d-weight-decay", "1e-4")):
        code, _, err = run(capsys, "train", "--layer", "conv5", "--data", "synthetic", "--encoder", ALEXNET, "--loss", "image", "--steps", "1",
                           "--out", tmp_path / "run", *flags)
        assert code == 1 and f"{flags[0]} does not apply to loss preset 'image', which has no adversarial term" in err, err
    assert not (tmp_path / "run").exists()


def test_invert_by_optimisation(capsys, pictures, tmp_path):
    code, out, err = run(capsys, "invert", pictures[0], "--layer", "fc8", "--method", "optimize", "--iterations", "3",
                         "--encoder", ALEXNET, "--out", tmp_path)
    assert code == 0, err
    assert out.strip().endswith("p0.fc8.optimize.png") and Image.open(out.strip()).size == (224, 224)


def test_figures(capsys, trained_run, pictures, tmp_path, monkeypatch):
    import invertnet.evaluation.figures as figures

    drawn = []
    monkeypatch.setattr(figures, "labelled_rows", lambda rows, **kw: drawn.append(([label for label, _ in rows], kw)) or real(rows, **kw))
    real = labelled_rows
    code, out, err = run(capsys, "figure", "layers", *pictures, "--weights", trained_run, "--encoder", ALEXNET, "--out", tmp_path / "f3.png")
    assert code == 0, err
    assert Image.open(out.strip()).size == (LABEL_WIDTH + 2 * 224 + 3 * 2, LINE + 4 + 2 * 226 + 2)  # title, label column, input row, conv5 row
    labels, options = drawn[0]  # what the picture says: the encoder in the title, each row's generator by its run folder
    assert options["title"] == f"reconstructions from each layer of {ALEXNET}, a row per generator"
    assert labels == ["input", f"conv5: {trained_run.name}"] and "generator.safetensors" not in str(drawn)
    code, out, err = run(capsys, "figure", "methods", *pictures, "--layer", "conv5", "--weights", trained_run, "--method", "generator",
                         "--method", "optimize", "--iterations", "2", "--encoder", ALEXNET, "--out", tmp_path / "f4.png")
    assert code == 0, err
    assert Image.open(out.strip()).size[1] == 3 * 226 + 2  # input, generator, optimisation
    code, out, err = run(capsys, "figure", "methods", *pictures, "--layer", "conv5", "--weights", trained_run, "--optimize",
                         "--iterations", "2", "--encoder", ALEXNET, "--out", tmp_path / "old.png")
    assert code == 0 and "figure methods --optimize is now --method optimize" in err, err  # the old spelling, one release
    assert (tmp_path / "old.png").read_bytes() == (tmp_path / "f4.png").read_bytes()


def test_train_with_another_image_loss(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--layer", "conv5", "--data", "synthetic", "--out", tmp_path / "run", "--steps", "1", "--batch-size", "2",
                       "--loss", "image", "--image-loss", "ms-ssim", "--encoder", ALEXNET, "--device", "cpu")
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["loss_config"]["image_loss"] == "ms-ssim" and config["loss_config"]["lambda_img"] == 1000.0


def test_demo(capsys, tmp_path, monkeypatch):
    from invertnet import demo

    monkeypatch.setattr(demo, "MEAN_IMAGES", 16)  # 256 and 32 as users run it: a third of the test's time, the same code
    monkeypatch.setattr(demo, "run_demo", functools.partial(demo.run_demo, eval_images=8))
    code, out, err = run(capsys, "demo", "--out", tmp_path / "demo", "--steps", "2", "--batch-size", "2")
    assert code == 0, err
    progress_line(err)  # the same line as train's
    for name in ("invert.png", "reencode.png", "interpolate.png", "interpolate.gif", "results.json", "run/generator.safetensors"):
        assert (tmp_path / "demo" / name).is_file(), name
    assert "the table as eval's JSON" in out and "paper: DeePSiM" in out and "mean image" in out and "the mean training image in image error" in out
    figures = json.loads((tmp_path / "demo" / "results.json").read_text())
    generator, baseline = figures["results"]
    assert generator["method"].startswith("image: ") and baseline["method"] == "mean training image"
    assert generator["lpips"] is None and generator["lpips_unavailable"] == "not requested"  # said, not left empty
    verdict = "beats" if generator["image_error_fraction"] < baseline["image_error_fraction"] else "does NOT beat"
    assert f"the generator {verdict} the mean" in out
    assert 0 < figures["reconstruction_spread"] < 2 and f"is {100 * figures['reconstruction_spread']:.0f}% of the inputs'" in out


def test_broken_files_in_a_training_folder_are_skipped_and_counted(capsys, tmp_path):
    data = tmp_path / "data"
    for i in range(3):
        save_image(torch.rand(3, 64, 64), data / f"ok{i}.png")
    (data / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    code, _, err = run(capsys, "train", "--layer", "fc8", "--fc-width", "64", "--data", data, "--out", tmp_path / "run", "--steps", "2",
                       "--batch-size", "4",
                       "--encoder", ALEXNET, "--device", "cpu", "--workers", "0")
    assert code == 0, err
    assert "skipped 1 unreadable files: broken" in err
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["skipped_files"] == 1


@pytest.fixture
def bad_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello")
    truncated = save_image(torch.rand(3, 64, 64), tmp_path / "cut.png")
    truncated.write_bytes(truncated.read_bytes()[:300])
    return {"missing": tmp_path / "nope.jpg", "text": text, "truncated": truncated, "folder": tmp_path}


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "folder"])
def test_bad_image_on_the_command_line(capsys, trained_run, bad_files, kind):
    code, _, err = run(capsys, "invert", bad_files[kind], "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET)
    assert code == 1
    assert err.startswith("invertnet: error:") and err.count("\n") == 1 and "Traceback" not in err


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch EVIL_RAN",))


@pytest.mark.parametrize(
    "args, message",
    [
        (("invert", "{img}", "--layer", "fc9", "--weights", "{run}", "--encoder", ALEXNET), "inverts conv5, not fc9: pass a fc9 checkpoint or --layer conv5"),
        (("invert", "{img}", "--layer", "fc6", "--weights", "{run}", "--encoder", ALEXNET), "inverts conv5, not fc6"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{run}", "--encoder", "random:3"), "trained against the encoder 'random:0'"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{run}", "--encoder", "imagenet"), "alexnet-owt-7be5be79.pth"),
        (("invert", "{img}", "--layer", "fc6", "--weights", "deepsim:fc6"), "release_deepsim_v0.zip"),
        (("invert", "{img}", "--layer", "fc6", "--weights", "deepsim:fc9"), "the authors released deepsim:norm1, deepsim:norm2"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{run}", "--encoder", "caffenet:random:0"), "trained against the encoder 'random:0'"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{tmp}/none.safetensors", "--encoder", ALEXNET), "weights not found"),
        (("train", "--layer", "conv5", "--data", "{tmp}/empty", "--out", "{tmp}/o", "--encoder", ALEXNET), "no images in"),
        (("train", "--layer", "conv5", "--data", "{tmp}/absent", "--out", "{tmp}/o", "--encoder", ALEXNET), "data folder not found"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--steps", "0", "--encoder", ALEXNET), "steps (--steps) must be a positive integer"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--batch-size", "0", "--encoder", ALEXNET), "batch_size (--batch-size) must be a positive integer"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--steps", "many"), "'--steps'"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--loss", "gan", "--encoder", ALEXNET), "'gan' is not one of 'image', 'adv+image'"),
        (("eval", "--layer", "conv5", "--data", "synthetic", "--weights", "{run}", "--encoder", ALEXNET, "--limit", "1"), "--limit must be at least 2"),
        (("reencode", "{img}", "--layer", "conv5", "--iterations", "0", "--weights", "{run}", "--encoder", ALEXNET), "iterations (--iterations) must be between 1 and 1000"),
        (("reencode", "{img}", "--layer", "conv5", "--iterations", "100000000", "--weights", "{run}", "--encoder", ALEXNET), "iterations (--iterations) must be between"),
        (("interpolate", "{img}", "{img2}", "--layer", "conv5", "--frames", "1", "--weights", "{run}", "--encoder", ALEXNET), "frames (--frames) must be between 2"),
        (("interpolate", "{img}", "{img2}", "--layer", "conv5", "--frames", "100000000", "--weights", "{run}", "--encoder", ALEXNET), "frames (--frames) must be between"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--steps", "99999999999999999999", "--encoder", ALEXNET),
         "more than any run can take"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--batch-size", "100000000", "--encoder", ALEXNET),
         "over invertnet's limit"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--gate-stop", "-1", "--encoder", ALEXNET), "--gate-stop must be a finite number >= 0"),
        (("train", "--layer", "fc6", "--data", "synthetic", "--out", "{tmp}/o", "--gate", "paper", "--gate-pause-generator", "5", "--encoder", ALEXNET),
         "gate_pause_generator (--gate-pause-generator) belongs to gate (--gate) script"),
        (("train", "--layer", "fc6", "--data", "synthetic", "--out", "{tmp}/o", "--gate", "never", "--encoder", ALEXNET), "Invalid value for '--gate': 'never' is not one of 'script', 'paper'"),
        (("train", "--layer", "fc6", "--data", "synthetic", "--out", "{tmp}/o", "--lr-milestones", "5k,3k", "--encoder", ALEXNET), "lr_milestones (--lr-milestones) must increase"),
        (("train", "--layer", "fc6", "--data", "synthetic", "--out", "{tmp}/o", "--lr-milestones", "soon", "--encoder", ALEXNET), "is not a number of updates"),
        (("train", "--layer", "fc6", "--data", "synthetic", "--out", "{tmp}/o", "--preset", "fast", "--encoder", ALEXNET), "'fast' is not one of 'default', 'paper'"),
        (("train", "--layer", "fc6", "--data", "synthetic", "--out", "{tmp}/o", "--crops", "round", "--encoder", ALEXNET), "'round' is not one of 'torchvision', 'caffe'"),
        (("train", "--layer", "fc6", "--data", "synthetic", "--out", "{tmp}/o", "--d-weight-decay", "-1", "--encoder", ALEXNET), "d_weight_decay (--d-weight-decay) must be"),
        (("eval", "--data", "synthetic", "--weights", "{run}", "--crops", "round", "--encoder", ALEXNET), "'round' is not one of 'torchvision', 'caffe'"),
        (("nonsense",), "No such command"),
        (("eval", "--data", "synthetic", "--method", "optimize", "--encoder", ALEXNET), "--method optimize needs --layer"),
        (("eval", "--data", "synthetic", "--method", "magic", "--encoder", ALEXNET), "'magic' is not one of 'generator', 'optimize', 'mean'"),
        (("eval", "--data", "synthetic", "--layer", "conv5", "--weights", "{run}", "--method", "optimize", "--encoder", ALEXNET),
         "--weights applies to --method generator"),
        (("eval", "--data", "synthetic", "--weights", "{run}", "--mean-images", "5", "--encoder", ALEXNET), "--mean-images applies to --method mean"),
        (("eval", "--data", "synthetic", "--weights", "{run}", "--iterations", "5", "--encoder", ALEXNET),
         "--iterations applies to --method optimize"),
        (("eval", "--data", "synthetic", "--method", "mean", "--encoder", ALEXNET), "--method mean needs --layer"),
        (("invert", "{img}", "--layer", "conv5", "--method", "optimize", "--weights", "{run}", "--encoder", ALEXNET),
         "--weights does not apply to --method optimize"),
        (("invert", "{img}", "--layer", "conv5", "--iterations", "5", "--weights", "{run}", "--encoder", ALEXNET),
         "--iterations does not apply to --method generator"),
        (("figure", "methods", "{img}", "--layer", "conv5", "--weights", "{run}", "--iterations", "5", "--encoder", ALEXNET),
         "--iterations does not apply without --method optimize"),
        (("train", "--out", "{run}", "--resume", "--batch-size", "4", "--lr", "0.1"), "--batch-size, --lr do not apply with --resume"),
        (("train", "--out", "{run}", "--resume", "--no-compile"), "--compile does not apply with --resume"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--workers", "2", "--encoder", ALEXNET),
         "--workers does not apply to --data synthetic"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--loss", "image", "--lambda-feat", "1", "--encoder", ALEXNET),
         "lambda_feat (--lambda-feat) does not apply to loss preset 'image', which has no feature term"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--loss", "feat+adv", "--image-loss", "l1", "--encoder", ALEXNET),
         "image_loss (--image-loss) does not apply to loss preset 'feat+adv'"),
        (("eval", "--data", "{tmp}/empty", "--split", "train", "--weights", "{run}", "--encoder", ALEXNET), "--split does not apply to"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET, "--out", "{img}"), "never overwrites an input"),
        (("reencode", "{img}", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET, "--out", "{img}"), "never overwrites an input"),
        (("interpolate", "{img}", "{img2}", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET, "--out", "{img2}"),
         "never overwrites an input"),
        (("invert", "{img}", "{tmp}/empty/../{imgname}", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET, "--out", "{tmp}"),
         "two results would be written"),
        (("invert", "{img}", "{img2}", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET, "--out", "{img}"),
         "names one file, but 2 images"),
        (("invert", "{img}", "{img2}", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET, "--out", "{run}/config.json"),
         "the suffix picks the format"),
        (("eval", "--data", "synthetic", "--weights", "{run}", "--encoder", ALEXNET, "--json", "{img}"), "must end in .json"),
        (("eval", "--data", "synthetic", "--weights", "{run}", "--encoder", ALEXNET, "--csv", "{tmp}/r.json"), "must end in .csv"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "/proc/no/such", "--encoder", ALEXNET), "/proc/no"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{run}", "--encoder", "{tmp}/evil.pth"), "cannot read AlexNet weights"),
        (("demo", "--steps", "0", "--out", "{tmp}/d"), "--steps must be a positive integer"),
        (("demo", "--out", "{tmp}/done"), "already holds a demo run"),
        (("bench", "--small", "--device", "cpu", "--workers", "-1"), "workers (--workers) must be >= 0"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET, "--out", "{tmp}/out.gif"), "name a .png, .jpg, .jpeg, .webp file"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{img}/run", "--encoder", ALEXNET), "is a file, not a folder"),
        (("eval", "--data", "synthetic", "--weights", "{run}", "--encoder", ALEXNET, "--json", "{tmp}/dir.json"), "is a folder, not a file"),
        (("eval", "--data", "synthetic", "--weights", "{run}", "--encoder", ALEXNET, "--html", "{img}"), "is a file, not a folder"),
        (("eval", "--data", "synthetic", "--weights", "{run}", "--encoder", ALEXNET, "--save-reconstructions", "{img}/x"), "is a file, not a folder"),
        (("bench", "--small", "--device", "cpu", "--json", "{img}/b.json"), "is a file, not a folder"),
        (("train", "--layer", "conv5", "--data", "{tmp}/zero", "--out", "{tmp}/o", "--encoder", ALEXNET, "--device", "cpu"),
         "none of the first"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{tmp}/zero/a.png", "--encoder", ALEXNET), "zero/a.png"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{tmp}/evil.pth", "--encoder", ALEXNET), "not a readable safetensors checkpoint"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{tmp}/cut.safetensors", "--encoder", ALEXNET), "not a readable safetensors"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{tmp}/noise.safetensors", "--encoder", ALEXNET), "not a readable safetensors"),
        (("invert", "{tmp}/x.svg", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET), "not an image Pillow can read"),
        (("invert", "{img}", "--layer", "conv5", "--weights", "{run}", "--encoder", ALEXNET, "--device", "mps"), "unsupported device 'mps'"),
        (("invert", "{img}", "--layer", "conv5", "--method", "magic", "--encoder", ALEXNET), "'magic' is not one of 'generator', 'optimize'"),
        (("figure", "methods", "{img}", "--layer", "conv5", "--encoder", ALEXNET), "--method generator (the default) needs --weights"),
        (("figure", "methods", "{img}", "--layer", "conv5", "--method", "optimize", "--weights", "{run}", "--encoder", ALEXNET),
         "--weights does not apply without --method generator"),
        (("train", "--layer", "conv5", "--data", "synthetic", "--out", "{tmp}/o", "--image-loss", "l3", "--encoder", ALEXNET), "'l3' is not one of 'l2', 'l1', 'ms-ssim'"),
    ],
)
def test_bad_input_is_one_line(capsys, trained_run, pictures, tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    torch.save({"payload": _Evil()}, tmp_path / "evil.pth")  # a pickle that runs code if unpickled without weights_only
    (tmp_path / "zero").mkdir()
    (tmp_path / "done" / "run").mkdir(parents=True)  # a finished demo
    (tmp_path / "dir.json").mkdir()
    for name in ("a.png", "b.jpg", "c.png"):
        (tmp_path / "zero" / name).write_bytes(b"")  # a folder of empty files
    (tmp_path / "cut.safetensors").write_bytes((trained_run / "generator.safetensors").read_bytes()[:4000])
    (tmp_path / "noise.safetensors").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect width="9" height="9"/></svg>')
    names = {"img": pictures[0], "img2": pictures[1], "imgname": pictures[0].name, "run": trained_run, "tmp": tmp_path}
    filled = [a.format(**names) for a in args]
    inputs = [p.read_bytes() for p in pictures]
    code, _, err = run(capsys, *filled)
    assert code != 0
    assert message in err, err
    first, *details = err.splitlines()  # one error line, then (where a file is missing) indented lines: each source and its place
    assert first.startswith("invertnet: error:") and all(line.startswith("  ") for line in details) and "Traceback" not in err
    assert not (tmp_path / "EVIL_RAN").exists() and [p.read_bytes() for p in pictures] == inputs  # nothing ran, no input touched


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_asked_for_where_there_is_none(capsys, trained_run, pictures):
    code, _, err = run(capsys, "invert", pictures[0], "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET, "--device", "cuda")
    assert code == 1 and err.startswith("invertnet: error: --device cuda was asked for") and err.count("\n") == 1


def test_an_unwritable_output_is_refused_before_any_work(capsys, trained_run, tmp_path, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(tmp_path / "ro") else real_access(path, mode))
    (tmp_path / "ro").mkdir()
    evaluated = []
    monkeypatch.setattr("invertnet.evaluation.protocol.evaluate_methods", lambda *args, **kwargs: evaluated.append(1))
    code, _, err = run(capsys, "eval", "--data", "synthetic", "--weights", trained_run, "--encoder", ALEXNET, "--json", tmp_path / "ro" / "r.json")
    assert code == 1 and "cannot write in" in err and not evaluated


def test_eval_json_on_stdout_is_json_alone(capsys, trained_run):
    code, out, err = run(capsys, "eval", "--data", "synthetic", "--weights", trained_run, "--encoder", ALEXNET, "--limit", "2", "--json", "-")
    assert code == 0, err
    assert json.loads(out)["results"][0]["n"] == 2 and "Normalized inversion error" in err
    assert "full: conv5" in err and "…" not in err  # the whole table, not squeezed into 80 columns


def test_a_second_signal_says_what_was_kept(capsys, trained_run, monkeypatch):
    def interrupted(self, on_log=None):
        raise KeyboardInterrupt

    monkeypatch.setattr("invertnet.training.loop.Trainer.run", interrupted)
    code, _, err = run(capsys, "train", "--out", trained_run, "--resume", "--steps", "3")
    assert code == 130 and "second signal" in err and "--resume" in err


def test_long_input_names_fit_the_temporary_files(capsys, trained_run, tmp_path):
    picture = save_image(torch.rand(3, 64, 64), tmp_path / f"{'x' * 230}.png")
    code, out, err = run(capsys, "invert", picture, "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET, "--out", tmp_path)
    assert code == 0, err
    assert Image.open(out.strip()).size == (224, 224)


def test_html_report_links_survive_names_with_url_characters(capsys, trained_run, tmp_path):
    for name in ("a#1.png", "b?.png"):
        save_image(torch.rand(3, 64, 64), tmp_path / "data" / name)
    code, _, err = run(capsys, "eval", "--data", tmp_path / "data", "--weights", trained_run, "--encoder", ALEXNET, "--html", tmp_path / "rep")
    assert code == 0, err
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "src='images/input/a%231.png'" in page and "src='images/input/b%3F.png'" in page
    assert (tmp_path / "rep" / "images" / "input" / "a#1.png").is_file()
