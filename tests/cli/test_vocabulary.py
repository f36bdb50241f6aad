"""One vocabulary across subcommands (issue 23, item 4): old spellings still work for one release with a warning,
--json/--csv take PATH or - everywhere, output formats follow the suffix and unsupported ones are refused."""

import json

import pytest
from conftest import ALEXNET, run
from PIL import Image

from invertnet.cli.deprecated import RENAMED, rewrite


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["interpolate", "a", "b", "--steps", "4"], ["interpolate", "a", "b", "--frames", "4"]),
        (["interpolate", "a", "b", "--steps=4"], ["interpolate", "a", "b", "--frames=4"]),
        (["reencode", "a", "-n", "3"], ["reencode", "a", "--iterations", "3"]),
        (["reencode", "a", "-n3"], ["reencode", "a", "--iterations=3"]),  # a short flag's attached value
        (["eval", "--optimize-iterations", "5"], ["eval", "--iterations", "5"]),
        (["calibrate", "--images", "8", "--json"], ["calibrate", "--count", "8", "--json", "-"]),
        (["weights", "list", "--json"], ["weights", "list", "--json", "-"]),
        (["bench", "--steps", "2"], ["bench", "--repeats", "2"]),
    ],
)
def test_old_spellings_are_rewritten_with_a_warning(capsys, argv, expected):
    assert rewrite(argv) == expected
    err = capsys.readouterr().err
    assert "deprecated" in err and "will be removed in" in err


@pytest.mark.parametrize(
    "argv",
    [["train", "--steps", "5"], ["demo", "--steps", "5"], ["interpolate", "a", "b", "-n", "4"], ["calibrate", "--json", "r.json"],
     ["eval", "--json", "-"], ["weights", "fetch", "--source", "hf"]],
)
def test_current_spellings_are_left_alone(capsys, argv):
    assert rewrite(argv) == argv and capsys.readouterr().err == ""


def test_every_renamed_flag_exists_in_its_command():
    import typer.main

    from invertnet.cli import app

    root = typer.main.get_command(app)
    for (command, _), new in RENAMED.items():
        cmd = root
        for word in command.split():
            cmd = cmd.commands[word]
        assert any(new in param.opts for param in cmd.params), (command, new)


def test_deprecated_interpolate_steps_still_works(capsys, trained_run, pictures, tmp_path):
    code, out, err = run(capsys, "interpolate", *pictures, "--layer", "conv5", "--steps", "3", "--weights", trained_run,
                         "--encoder", ALEXNET, "--out", tmp_path / "i.gif")
    assert code == 0, err
    assert "interpolate --steps is now --frames" in err
    assert Image.open(out.strip()).n_frames == 4  # .gif: the 3 frames as an animation, forwards then back


@pytest.mark.parametrize("suffix, format", [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP")])
def test_output_format_follows_the_suffix(capsys, trained_run, pictures, tmp_path, suffix, format):
    for command in (("invert", pictures[0]), ("reencode", pictures[0], "--iterations", "1")):
        target = tmp_path / f"{command[0]}{suffix}"
        code, out, err = run(capsys, *command, "--layer", "conv5", "--weights", trained_run, "--encoder", ALEXNET, "--out", target)
        assert code == 0, err
        assert Image.open(out.strip()).format == format


@pytest.mark.parametrize(
    "command, suffix",
    [(("invert", "{img}"), ".gif"), (("invert", "{img}"), ".bmpx"), (("reencode", "{img}"), ".gif"), (("interpolate", "{img}", "{img}"), ".tiff"),
     (("sample", "--weights", "{run}"), ".gif"), (("figure", "layers", "{img}", "--weights", "{run}"), ".txt")],
)
def test_unsupported_output_formats_are_refused_before_any_work(capsys, trained_run, pictures, tmp_path, command, suffix):
    filled = [word.format(img=pictures[0], run=trained_run) for word in command]
    extra = [] if command[0] in ("sample", "figure") else ["--layer", "conv5", "--weights", trained_run]
    code, _, err = run(capsys, *filled, *extra, "--encoder", ALEXNET, "--out", tmp_path / f"x{suffix}")
    assert code == 1 and "the suffix picks the format" in err and err.count("\n") == 1
    assert not list(tmp_path.glob("x.*"))


def test_csv_dash_is_stdout(capsys, trained_run):
    code, out, err = run(capsys, "eval", "--data", "synthetic", "--weights", trained_run, "--encoder", ALEXNET, "--limit", "2", "--csv", "-")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("method,layer,encoder,image,") and len(lines) == 3
    assert "Normalized inversion error" in err  # the table moved to stderr


def test_json_and_csv_cannot_both_be_stdout(capsys, trained_run):
    code, _, err = run(capsys, "eval", "--data", "synthetic", "--weights", trained_run, "--encoder", ALEXNET, "--json", "-", "--csv", "-")
    assert code == 1 and "both write to stdout" in err


def test_weights_list_json_to_stdout_and_file(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    code, out, _ = run(capsys, "weights", "list", "--json", "-")
    assert code == 0 and any(row["name"] == "fc6" and row["default"] for row in json.loads(out)["weights"])
    code, out, _ = run(capsys, "weights", "list", "--json", tmp_path / "w.json")
    assert code == 0 and out.strip() == str(tmp_path / "w.json") and json.loads((tmp_path / "w.json").read_text())


@pytest.mark.parametrize("argv, old, new", [(["interpolate", "a", "b", "--steps", "3", "--frames", "4"], "--steps", "--frames"),
                                            (["reencode", "a", "-n2", "--iterations=4"], "-n", "--iterations"),
                                            (["train", "--alexnet", "random:0", "--encoder", "random:1"], "--alexnet", "--encoder")])
def test_an_old_spelling_with_its_new_one_is_refused(capsys, tmp_path, argv, old, new):
    code, out, err = run(capsys, *argv, "--out", tmp_path / "x")
    assert code == 1 and err == f"invertnet: error: {old} is the old spelling of {new}, which is given too: give {new} alone\n"
    assert not (tmp_path / "x").exists()


def test_deprecated_reencode_n_with_its_value_attached_still_works(capsys, trained_run, pictures, tmp_path):
    warnings = []
    for name, flags in (("old", ["-n2"]), ("new", ["--iterations", "2"])):
        code, _, err = run(capsys, "reencode", pictures[0], "--weights", trained_run, *flags, "--out", tmp_path / f"{name}.png")
        assert code == 0, err
        warnings.append("reencode -n is now --iterations" in err)
    assert warnings == [True, False] and (tmp_path / "old.png").read_bytes() == (tmp_path / "new.png").read_bytes()


def _single_valued_options():
    """Every (subcommand words, option) of the CLI that takes one value, from the commands' own declarations."""
    import typer

    from invertnet.cli import app

    found = []

    def walk(command, words):
        for param in command.params:
            if param.param_type_name == "option" and not (param.multiple or param.is_flag):
                found.extend((words, name) for name in param.opts)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return found


OPTIONS = _single_valued_options()


def test_every_output_option_is_among_those_checked():
    names = {name for _, name in OPTIONS}
    assert {"--out", "-o", "--json", "--csv", "--html", "--save-reconstructions"} <= names and len(OPTIONS) > 100


@pytest.mark.parametrize("words, option", OPTIONS, ids=[f"{' '.join(w)} {o}" for w, o in OPTIONS])
def test_an_option_of_one_value_given_twice_is_refused_before_anything_runs(capsys, tmp_path, words, option):
    code, out, err = run(capsys, *words, option, tmp_path / "a.json", option, tmp_path / "b.json")
    assert code == 1 and out == "" and err.count("\n") == 1 and "is given 2 times" in err and "give it once" in err, err
    assert not any(tmp_path.iterdir())


def test_reencode_and_interpolate_write_json(capsys, trained_run, pictures, tmp_path):
    code, out, err = run(capsys, "reencode", pictures[0], "--weights", trained_run, "--iterations", "2", "--out", tmp_path / "r.png", "--json", "-")
    assert code == 0, err
    record = json.loads(out)  # stdout is the JSON alone: the picture is named on stderr
    assert record["schema"] == "invertnet.reencode" and record["schema_version"] == 1 and record["layer"] == "conv5"
    assert record["input"] == str(pictures[0]) and record["output"] == str(tmp_path / "r.png") and record["settings"]["iterations"] == 2
    assert record["weights"] == str(trained_run / "generator.safetensors") and record["encoder"] == ALEXNET and str(tmp_path / "r.png") in err
    code, out, err = run(capsys, "interpolate", *pictures, "--weights", trained_run, "--frames", "3", "--gif", "--out", tmp_path / "i.png",
                         "--json", tmp_path / "i.json")
    assert code == 0, err
    record = json.loads((tmp_path / "i.json").read_text())
    assert record["schema"] == "invertnet.interpolate" and record["fractions"] == [0.0, 0.5, 1.0] and record["frames"] == 3
    assert record["outputs"] == [str(tmp_path / "i.png"), str(tmp_path / "i.gif")] and record["inputs"] == [str(p) for p in pictures]
