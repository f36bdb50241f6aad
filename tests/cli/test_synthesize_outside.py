"""synthesize with scores from outside the process (issue 35): a command or a rig watching a folder drives the search,
every image scored is kept with its score, a failing scorer ends the run cleanly, and a killed search resumes exactly."""

import csv
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from conftest import run

from invertnet.weights.checkpoint import atomic_save, load_checkpoint

SCORER = '''
import os, pathlib, signal, sys, time
import numpy as np
from PIL import Image
folder, here = pathlib.Path(sys.argv[-1]), pathlib.Path(__file__).parent
calls = int((here / "calls.txt").read_text()) + 1 if (here / "calls.txt").exists() else 1
(here / "calls.txt").write_text(str(calls))
mode = (here / "mode.txt").read_text().split() if (here / "mode.txt").exists() else ["none", "0"]
files = sorted(folder.glob("*.png"))
if int(mode[1]) == calls:
    if mode[0] == "fail":
        print("rig offline", file=sys.stderr)
        sys.exit(3)
    if mode[0] == "kill":
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(30)
    if mode[0] == "sleep":
        time.sleep(3)
    if mode[0] == "short":
        files = files[:-1]
    if mode[0] == "word":
        print("lots")
        files = files[1:]
for path in files:  # the score: the mean red value of the image's centre
    print(np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)[104:120, 104:120, 0].mean() / 255)
'''


@pytest.fixture
def scorer(tmp_path):
    """The scorer script, its command line, and a way to make its Nth call misbehave."""
    folder = tmp_path / "rig"
    folder.mkdir()
    (folder / "scorer.py").write_text(SCORER)

    def misbehave(mode: str, call: int) -> None:
        (folder / "mode.txt").write_text(f"{mode} {call}")
        (folder / "calls.txt").unlink(missing_ok=True)

    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(folder / 'scorer.py'))}"
    return command, misbehave, folder


def search(generator, out, command, *extra, generations=8):
    return ["synthesize", "--score-command", command, "--weights", generator, "--method", "ga", "--population", "6",
            "--iterations", str(generations), "--out", out / "best.png", "--json", out / "run.json", "--device", "cpu", *extra]


def mean_red(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)[104:120, 104:120, 0].mean() / 255


@pytest.fixture(scope="module")
def loud(trained_run, tmp_path_factory):
    """The tiny run's generator with its first layer's weights 100 times larger: two training steps leave its images
    nearly the same for every code (a few grey levels apart), too alike for a search on 8-bit PNGs to climb."""
    original = load_checkpoint(trained_run / "generator.safetensors")
    tensors = {**original.tensors, "generator.head.0.weight": original.tensors["generator.head.0.weight"] * 100}
    path = atomic_save(tensors, original.metadata, tmp_path_factory.mktemp("loud") / "generator.safetensors")
    yield path
    shutil.rmtree(path.parent)


def test_a_command_drives_the_search_and_every_image_is_kept(capsys, loud, tmp_path, scorer):
    command, _, _ = scorer
    code, out, err = run(capsys, *search(loud, tmp_path, command, "--keep-all"))
    assert code == 0, err
    record = json.loads((tmp_path / "run.json").read_text())
    unit = record["units"][0]
    assert record["method"] == "ga" and record["complete"] is True and record["stopped"] is None
    assert record["score"] == {"kind": "command", "command": command, "folder": None, "timeout_s": 600.0}
    assert record["settings"]["population"] == 6 and record["settings"]["mutation_rate"] == 0.5 and record["settings"]["sigma"] is None
    assert unit["best"][-1] > unit["best"][0] and unit["evaluations"] == 48  # the scorer's number went up
    rows = list(csv.DictReader((tmp_path / "best.scores.csv").open()))
    assert len(rows) == 48 and [r["generation"] for r in rows[::6]] == [str(g) for g in range(8)] and rows[0]["unit"] == ""
    for row in rows[::7]:  # each file is the image that was scored, with its score
        assert abs(mean_red(row["file"]) - float(row["score"])) < 1e-12
    assert max(float(r["score"]) for r in rows) == unit["activation"]
    assert Image.open(tmp_path / "best.png").size == (224, 224)  # the generator's own size
    assert abs(mean_red(tmp_path / "best.png") - unit["activation"]) < 1e-12
    codes = np.load(tmp_path / "best.code.npy")
    assert codes.shape == (1, 256, 6, 6) and codes.min() >= 0  # conv5's code is rectified
    assert (tmp_path / "best.state.safetensors").is_file() and str(tmp_path / "best.scores.csv") in out
    documented = set(re.findall(r"`([a-z0-9_]+)`", (Path(__file__).resolve().parents[2] / "docs" / "outputs.md").read_text()))
    assert keys(record) - documented == set() and set(rows[0]) - documented == set()  # docs/outputs.md names every key


def keys(value) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


@pytest.mark.parametrize(
    ("mode", "extra", "message"),
    [("fail", [], "--score-command (generation 3) exited with status 3; it said: rig offline"),
     ("sleep", ["--score-timeout", "0.5"], "--score-command (generation 3) did not finish in 0.5 s (--score-timeout)"),
     ("short", [], "--score-command (generation 3) gave 5 scores for 6 images"),
     ("word", [], "--score-command (generation 3): line 1 is 'lots', not a number")],
)
def test_a_failing_scorer_ends_the_run_with_the_generations_so_far(capsys, loud, tmp_path, scorer, mode, extra, message):
    command, misbehave, _ = scorer
    misbehave(mode, 3)
    code, _, err = run(capsys, *search(loud, tmp_path, command, *extra))
    *reached, error = err.strip().splitlines()  # what was reached, then one error line
    assert code == 1 and message in error and "run the same command with --resume" in error and "after 12 images scored" in reached[-1], err
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["complete"] is False and message in record["stopped"] and len(record["units"][0]["best"]) == 2
    assert (tmp_path / "best.png").is_file() and (tmp_path / "best.curve.png").is_file()


def test_a_killed_search_resumes_to_the_same_result(capsys, loud, tmp_path, scorer):
    command, misbehave, rig = scorer
    search6 = functools.partial(search, generations=6)  # the kill comes in generation 4 of 6
    straight = tmp_path / "straight"
    code, _, err = run(capsys, *search6(loud, straight, command, "--keep-all"))
    assert code == 0, err
    misbehave("kill", 4)  # the scorer kills invertnet itself during generation 4: nothing gets to clean up
    stopped = tmp_path / "stopped"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "invertnet", *map(str, search6(loud, stopped, command, "--keep-all"))],
                          capture_output=True, timeout=300, env=env, check=False)
    assert done.returncode == -9, done.stderr.decode()
    (rig / "mode.txt").unlink()
    code, _, err = run(capsys, *search6(loud, tmp_path / "other", command, "--keep-all", "--resume"))
    assert code == 1 and "--resume: there is no saved search at" in err
    code, _, err = run(capsys, *search6(loud, stopped, command, "--keep-all"))
    assert code == 1 and "holds a search already: pass --resume to continue it" in err
    code, _, err = run(capsys, *search6(loud, stopped, command, "--keep-all", "--resume", "--seed", "1"))
    assert code == 1 and "is the state of another search (seed: saved 0, now 1)" in err
    code, _, err = run(capsys, *search6(loud, stopped, command, "--keep-all", "--resume"))
    assert code == 0, err
    first, second = (json.loads((folder / "run.json").read_text())["units"][0] for folder in (straight, stopped))
    assert first["best"] == second["best"] and first["mean"] == second["mean"] and first["activation"] == second["activation"]
    assert np.array_equal(np.load(straight / "best.code.npy"), np.load(stopped / "best.code.npy"))
    rows = list(csv.DictReader((stopped / "best.scores.csv").open()))  # generation 4, scored twice, listed once
    assert [(r["generation"], r["index"], r["score"]) for r in rows] == [
        (r["generation"], r["index"], r["score"]) for r in csv.DictReader((straight / "best.scores.csv").open())
    ]


def test_a_rig_that_watches_a_folder(capsys, loud, tmp_path):
    rig, stop = tmp_path / "rig", threading.Event()

    def watch():  # a rig: score each new generation's images, write scores.txt under another name, then rename it
        while not stop.is_set():
            for folder in sorted(rig.glob("gen_*")) if rig.is_dir() else []:
                if not (folder / "scores.txt").exists():
                    values = [f"{mean_red(path)}\n" for path in sorted(folder.glob("*.png"))]
                    (folder / "scores.tmp").write_text("".join(values))
                    os.replace(folder / "scores.tmp", folder / "scores.txt")
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        code, _, err = run(capsys, "synthesize", "--score-folder", rig, "--weights", loud, "--method", "ga", "--population", "4",
                           "--iterations", "3", "--keep-all", "--out", tmp_path / "b.png", "--json", tmp_path / "r.json", "--device", "cpu")
    finally:
        stop.set()
        thread.join()
    assert code == 0, err
    assert sorted(p.name for p in rig.iterdir()) == ["gen_0000", "gen_0001", "gen_0002"]
    rows = list(csv.DictReader((tmp_path / "b.scores.csv").open()))
    assert len(rows) == 12 and rows[5]["file"] == str(rig / "gen_0001" / "001.png")
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["score"]["kind"] == "folder" and record["score"]["folder"] == str(rig) and record["complete"] is True
    code, _, err = run(capsys, "synthesize", "--score-folder", tmp_path / "silent", "--weights", loud, "--method", "ga",
                       "--population", "4", "--iterations", "3", "--score-timeout", "0.3", "--out", tmp_path / "c.png", "--device", "cpu")
    assert code == 1 and f"no {tmp_path / 'silent' / 'gen_0000' / 'scores.txt'} after 0.3 s" in err and "nothing is saved" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--method", "gradient"], "--method gradient needs the score's gradient"),
     (["--sigma", "0"], "sigma (--sigma), the initial step size, must be a positive number"),  # cma by default: its flags apply
     (["--method", "ga", "--position", "1,1"], "--position places a unit of a --target's map"),
     (["--method", "ga", "--score-folder", "x"], "got --score-command and --score-folder")],
)
def test_refusals(capsys, trained_run, tmp_path, extra, message):
    code, _, err = run(capsys, "synthesize", "--score-command", "true", "--weights", trained_run, "--out", tmp_path / "o.png", *extra)
    assert code == 1 and message in err and err.count("\n") == 1, err
    code, _, err = run(capsys, "synthesize", "--score-command", "no-such-scorer-here", "--method", "ga", "--out", tmp_path / "o.png")
    assert code == 1 and "'no-such-scorer-here' is not a command found on PATH" in err
