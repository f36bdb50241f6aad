"""invert takes files, folders (recursively, by the data folder's rules), - for stdin, and writes --json (issue 23, item 7)."""

import io
import json
import sys

import numpy as np
import torch
from conftest import ALEXNET, run
from PIL import Image

from invertnet.data.imageio import load_image
from invertnet.data.imageio import save_image


def test_a_folder_is_read_recursively(capsys, trained_run, tmp_path):
    for name in ("a.png", "sub/b.jpg", "sub/deeper/c.png"):
        save_image(torch.rand(3, 64, 64), tmp_path / "in" / name)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    code, out, err = run(capsys, "invert", tmp_path / "in", "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET,
                         "--out", tmp_path / "out")
    assert code == 0, err
    written = sorted(p.rsplit("/", 1)[-1] for p in out.split())
    assert len(written) == 3 and all(name.endswith(".conv5.png") for name in written)
    assert len(set(written)) == 3  # names unique across subfolders


def test_stdin(capsys, trained_run, tmp_path, monkeypatch):
    data = io.BytesIO()
    Image.fromarray((torch.rand(64, 80, 3) * 255).byte().numpy()).save(data, format="PNG")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.getvalue())))
    code, out, err = run(capsys, "invert", "-", "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET, "--out", tmp_path)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "stdin.conv5.png") and Image.open(out.strip()).size == (224, 224)


def test_empty_stdin_is_one_clear_error(capsys, trained_run, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, _, err = run(capsys, "invert", "-", "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET, "--out", tmp_path)
    assert code == 1 and "no image data" in err and err.count("\n") == 1


def test_a_url_is_refused_with_advice(capsys, trained_run):
    code, _, err = run(capsys, "invert", "https://example.org/cat.jpg", "--layer", "conv5", "--weights", trained_run)
    assert code == 1 and "reads local files" in err and "https://example.org/cat.jpg" in err


def test_json_lists_inputs_and_outputs(capsys, trained_run, pictures, tmp_path):
    code, out, err = run(capsys, "invert", *pictures, "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET,
                         "--out", tmp_path / "o", "--json", "-")
    assert code == 0, err
    record = json.loads(out)  # stdout is the JSON alone; the files written are named on stderr
    assert [item["input"] for item in record["images"]] == [str(p) for p in pictures]
    assert all(item["output"].endswith(".conv5.png") for item in record["images"]) and record["method"] == "generator"
    assert str(tmp_path / "o") in err
    assert record["schema"] == "invertnet.invert" and record["schema_version"] == 1 and record["layer"] == "conv5"
    assert record["encoder"] == ALEXNET and record["model"] == "inverter" and record["weights"] == str(trained_run / "generator.safetensors")
    assert record["settings"] == {"iterations": None, "seed": None, "precision": "fp32", "device": "cpu"}


def test_json_of_the_optimisation_records_its_settings(capsys, pictures, tmp_path):
    code, out, err = run(capsys, "invert", pictures[0], "--method", "optimize", "--layer", "conv5", "--iterations", "2", "--encoder", ALEXNET,
                         "--device", "cpu", "--out", tmp_path / "o", "--json", "-")
    assert code == 0, err
    record = json.loads(out)
    assert record["method"] == "optimize" and record["weights"] is None and record["model"] is None and record["encoder"] == ALEXNET
    assert record["settings"] == {"iterations": 2, "seed": 0, "precision": "fp32", "device": "cpu"}


def test_side_by_side_is_labelled(capsys, trained_run, pictures, tmp_path, monkeypatch):
    from invertnet.cli import invert

    drawn = []
    real = invert._side_by_side
    monkeypatch.setattr(invert, "_side_by_side", lambda image, recon, what: drawn.append(what) or real(image, recon, what))
    code, out, err = run(capsys, "invert", pictures[0], "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET,
                         "--side-by-side", "--out", tmp_path / "pair.png")
    assert code == 0, err
    assert drawn == [f"from conv5 features, generator {trained_run.name}"]  # the label says what made it, by the run's name
    image = np.asarray(Image.open(out.strip()))
    assert image.shape[1] == 2 * 226 + 2  # two columns, no row labels
    header = image[: image.shape[0] - 228]
    assert header.shape[0] > 0 and (header < 128).any()  # the column labels above the pictures


def test_invert_seed_and_batch_size(capsys, trained_run, pictures, tmp_path):
    outputs = {}
    for name, extra in (("a", ["--batch-size", "1"]), ("b", ["--batch-size", "2"])):
        code, _, err = run(capsys, "invert", *pictures, "--weights", trained_run, "--encoder", ALEXNET, "--out", tmp_path / name, *extra)
        assert code == 0, err
        outputs[name] = [load_image(path) for path in sorted((tmp_path / name).iterdir())]
    for a, b in zip(outputs["a"], outputs["b"]):  # the batch size changes memory, not the pictures (bar a rounding to 8 bits)
        assert (a - b).abs().max() <= 1 / 255 + 1e-6
    for args, message in ((["--seed", "3"], "--seed does not apply to --method generator"), (["--batch-size", "0"], "--batch-size must be between 1")):
        code, _, err = run(capsys, "invert", pictures[0], "--weights", trained_run, "--encoder", ALEXNET, "--out", tmp_path / "x.png", *args)
        assert code == 1 and message in err, err
    images = {}
    for seed in (1, 1, 2):
        target = tmp_path / f"opt{seed}-{len(images)}.png"
        code, _, err = run(capsys, "invert", pictures[0], "--method", "optimize", "--layer", "conv5", "--iterations", "2", "--seed", seed,
                           "--encoder", ALEXNET, "--device", "cpu", "--out", target)
        assert code == 0, err
        images.setdefault(seed, []).append(target.read_bytes())
    assert images[1][0] == images[1][1] != images[2][0]
