"""Training progress (issue 23, item 5): elapsed and time left from the measured rate, images/s, the learning rate,
the weighted loss terms, the same line in train and demo, cut to the terminal's width field by field."""

import io
import json

import pytest

from conftest import ALEXNET, progress_line
from rich.console import Console

from invertnet.cli import main
from invertnet.cli.progress import Rate, TrainDisplay, clock, describe, fit

RECORD = {"step": 20, "steps": 100, "loss": 1432.0, "feat": 1000.0, "adv": 0.5, "img": 2e8, "discr": 1.2, "d_updated": True,
          "feat_weighted": 10.0, "adv_weighted": 50.0, "img_weighted": 400.0, "images_per_s": 28.64, "lr": 2e-4, "skipped_files": 0}
WEIGHTS = {"feat": 0.01, "adv": 100.0, "img": 2e-6, "kl": 0.0}


def test_terms_are_shown_weighted_and_say_so():
    parts = describe(RECORD, WEIGHTS)
    loss = next(part for part in parts if part.startswith("loss"))
    assert loss == "loss 1432 = feat 10 + adv 50 + img 400 (weighted)"  # the record's weighted terms
    assert parts[0] == "28.6 img/s" and "lr 0.0002" in parts and "D on" in parts


def test_fit_drops_whole_fields_from_the_end():
    parts = ["0:10<1:40", "28.6 img/s", "lr 0.0002", "loss 1432 = feat 10 + adv 50 + img 400 (weighted)"]
    assert fit(parts, 29) == "0:10<1:40 28.6 img/s"
    assert fit(parts, 1000) == " ".join(parts)
    assert fit(parts, 3) == "0:10<1:40"  # the times always


def test_clock():
    assert clock(None) == "--:--" and clock(62.4) == "1:02" and clock(3723) == "1:02:03"


def test_time_left_comes_from_the_measured_rate(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("invertnet.cli.progress.time.perf_counter", lambda: now[0])
    rate = Rate(first_step=0)
    now[0] = 130.0  # 30 s to the first record at step 10, start-up included
    assert rate.left(10, 100) == 30 / 10 * 90
    now[0] = 140.0  # then 10 s per 10 steps: the estimate leaves start-up out
    assert rate.left(20, 100) == 10 / 10 * 80
    assert Rate(first_step=5).left(5, 100) is None  # nothing measured yet


def test_the_live_line_fits_the_terminal():
    display = TrainDisplay()
    display.total, display.weights = 100, WEIGHTS
    for width in (60, 80, 100, 200):
        line = display.line(RECORD, width)
        assert len(line) <= max(width, len(line.split()[0])) and "…" not in line
    assert "(weighted)" in display.line(RECORD, 200) and "(weighted)" not in display.line(RECORD, 60)


def test_train_prints_the_progress_line(capsys, tmp_path):
    code = main(["train", "--layer", "fc8", "--fc-width", "64", "--data", "synthetic", "--out", str(tmp_path / "run"), "--steps", "2",
                 "--batch-size", "2",
                 "--encoder", ALEXNET, "--device", "cpu", "--log-every", "1"])
    train_err = capsys.readouterr().err
    assert code == 0, train_err
    progress_line(train_err)
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["lr"] == 2e-4 and record["d_lr"] == 2e-4


def test_live_bar_on_a_terminal_fits_80_columns(tmp_path, monkeypatch):
    console = Console(file=io.StringIO(), width=80, force_terminal=True)
    monkeypatch.setattr("invertnet.cli.progress.stderr", console)
    display = TrainDisplay()
    display.total, display.weights = 100, WEIGHTS
    with display:
        display.update(RECORD)
    lines = [line for line in console.file.getvalue().splitlines() if "step" in line]
    assert lines and all("…" not in line for line in lines)


def test_counted_work_in_a_log_is_a_line_per_finished_task_and_one_a_minute(capsys):
    from invertnet.cli.progress import LogProgress, progress_bar

    with progress_bar() as progress:  # stderr is not a terminal here, as in a batch job
        assert isinstance(progress, LogProgress)
        first, second = progress.add_task("cma unit 1", total=3), progress.add_task("cma unit 2", total=3)
        progress.update(first, completed=2, description="cma unit 1: best 4.2")
        assert capsys.readouterr().err == ""  # nothing until the task ends, or a minute passes
        progress.update(first, completed=3, description="cma unit 1: best 5.5")
        assert capsys.readouterr().err.startswith("cma unit 1: best 5.5 3/3 0:00")
        progress.every = 0
        progress.update(second, completed=1)
        assert capsys.readouterr().err.startswith("cma unit 2 1/3 ")


def test_synthesize_reports_each_units_best_activation(capsys, trained_run, tmp_path):
    code = main(["synthesize", "--target", f"{ALEXNET}:fc8:3,4", "--weights", str(trained_run), "--iterations", "2",
                 "--out", str(tmp_path / "s.png"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert [line.split(": best")[0] for line in err.splitlines() if ": best" in line] == ["gradient unit 3", "gradient unit 4"]


def test_metrics_log_each_term_raw_and_weighted(trained_run):
    weights = json.loads((trained_run / "config.json").read_text())["loss_config"]
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert records and all(record["schema_version"] == 1 for record in records)
    for record in records:
        terms = [name for name in ("feat", "adv", "img", "kl") if name in record]
        assert terms and all(record[f"{name}_weighted"] == pytest.approx(weights[f"lambda_{name}"] * record[name], rel=1e-12) for name in terms)
        assert sum(record[f"{name}_weighted"] for name in terms) == pytest.approx(record["loss"], rel=1e-5)  # float32 sums on the device
