"""``invertnet plot``: learning curves from metrics.jsonl, a panel per quantity and a line per run, weighted by default."""

import json

import pytest
from PIL import Image
from conftest import run

from invertnet.data.charts import PANEL
from invertnet.errors import InvertnetError
from invertnet.training.curves import learning_curves


def test_panels_are_the_loss_and_each_logged_term_weighted(trained_run):
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    terms = [term for term in ("feat", "adv", "img", "kl") if term in records[0]]
    panels = learning_curves([trained_run])
    words = {"feat": "feature", "adv": "adversarial", "img": "image"}
    assert [title for title, _ in panels] == ["the generator's loss", *(f"{words[term]} term (weighted)" for term in terms)]
    assert panels[1][1] == {trained_run.name: [(float(r["step"]), r[f"{terms[0]}_weighted"]) for r in records]}
    raw = learning_curves([trained_run], ["img"], raw=True)
    assert raw == [("image term (raw)", {trained_run.name: [(float(r["step"]), r["img"]) for r in records]})]


def test_plot_draws_a_panel_per_quantity(capsys, trained_run, tmp_path):
    other = tmp_path / "other" / trained_run.name  # a second run of the same folder name: told apart by the parent's
    other.mkdir(parents=True)
    (other / "metrics.jsonl").write_text((trained_run / "metrics.jsonl").read_text())
    code, out, err = run(capsys, "plot", trained_run, other / "metrics.jsonl", "-q", "loss", "-q", "images_per_s", "--out", tmp_path / "c.png")
    assert code == 0 and out.strip() == str(tmp_path / "c.png"), err
    assert Image.open(tmp_path / "c.png").size == (PANEL[0], 2 * PANEL[1])
    names = set(learning_curves([trained_run, other])[0][1])
    assert names == {f"{trained_run.parent.name}/{trained_run.name}", f"other/{trained_run.name}"}
    code, _, err = run(capsys, "plot", trained_run, trained_run / "metrics.jsonl", "--out", tmp_path / "d.png")
    assert code == 1 and "pass each run once" in err


def test_what_cannot_be_plotted_is_one_line(capsys, trained_run, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.jsonl").write_text('{"step": 1, "loss"\n')  # a torn line alone
    for args, message in (([tmp_path / "empty"], "holds no metrics records"), ([tmp_path / "nowhere"], "not found"),
                          ([trained_run, "-q", "kl"], "no run logs 'kl'"), ([trained_run, "-q", "accuracy"], "'accuracy'")):
        code, _, err = run(capsys, "plot", *args, "--out", tmp_path / "c.png")
        assert code in (1, 2) and message in err and err.count("\n") == 1, err
    with pytest.raises(InvertnetError, match="unknown quantity 'x'"):
        learning_curves([trained_run], ["x"])


def test_the_help_s_quantities_are_the_ones_drawn():
    """names.CURVE_QUANTITIES (the CLI's choices, read without torch) and the curves' titles name the same quantities."""
    from invertnet.names import CURVE_QUANTITIES
    from invertnet.training.curves import QUANTITIES

    assert tuple(QUANTITIES) == CURVE_QUANTITIES
