"""The command line answers --help, --version and argument errors without importing torch (issue 23, item 1),
and its help reads as Typer/Click users expect: whole first sentences, capital metavars, declared choices."""

import subprocess
import sys

import pytest

from invertnet.cli import app

HEAVY = ("torch", "torchvision", "numpy", "PIL", "safetensors")

PROBE = """
import sys
from invertnet.cli import main
code = main(sys.argv[1:])
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


def probe(*args):
    """Run the CLI in a fresh interpreter; return its exit code, stdout and the heavy modules it imported."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *args], capture_output=True, text=True, env={"COLUMNS": "100", "PATH": ""},
    )
    heavy = result.stderr.strip().splitlines()[-1].removeprefix("HEAVY:")
    return result.returncode, result.stdout, result.stderr, [name for name in heavy.split(",") if name]


COMMANDS = [[], ["train"], ["eval"], ["invert"], ["reencode"], ["interpolate"], ["sample"], ["synthesize"], ["calibrate"], ["demo"], ["bench"],
            ["figure"], ["figure", "layers"], ["figure", "methods"], ["weights"], ["weights", "list"], ["weights", "fetch"], ["weights", "import"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda words: " ".join(words) or "root")
def test_help_imports_no_torch(command):
    code, out, err, heavy = probe(*command, "--help")
    assert code == 0, err
    assert "Usage: invertnet" in out and heavy == []


@pytest.mark.parametrize(
    "args",
    [["--version"], ["train", "--precision", "fp16", "--data", "x", "--out", "o"], ["eval", "--crops", "round", "--data", "x"],
     ["invert"], ["nonsense"], ["train", "--steps", "many", "--out", "o"]],
    ids=["version", "bad-choice", "bad-crops", "missing-argument", "unknown-command", "not-a-number"],
)
def test_version_and_argument_errors_import_no_torch(args):
    code, out, err, heavy = probe(*args)
    assert heavy == [] and code in (0, 2), err
    if code == 2:
        assert "invertnet: error:" in err


def test_the_library_is_imported_lazily():
    result = subprocess.run([sys.executable, "-c", "import sys, invertnet; print(sorted(m for m in sys.modules if m.startswith('torch')))"],
                            capture_output=True, text=True)
    assert result.stdout.strip() == "[]"
    result = subprocess.run([sys.executable, "-c", "from invertnet import Inverter, __version__; print(Inverter.__name__)"], capture_output=True, text=True)
    assert result.stdout.strip() == "Inverter", result.stderr


def _commands(group, prefix=()):
    import typer.main

    command = typer.main.get_command(group)
    stack = [(prefix, command)]
    while stack:
        words, cmd = stack.pop()
        subcommands = getattr(cmd, "commands", {})
        if not subcommands:
            yield words, cmd
        for name, sub in subcommands.items():
            stack.append(((*words, name), sub))


@pytest.mark.parametrize("words", [(), *(words for words, _ in _commands(app))], ids=" ".join)
def test_no_python_type_leaks_into_help(words):
    """Every value an option takes is a capital METAVAR or its <choices>; a switch (--help too) shows none."""
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*words, "--help"], terminal_width=200, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    lines = result.output.splitlines()
    leaks = [line for line in lines for kind in ("<str>", "<int>", "<float>", "<path>", "<bool>", "<list[", "<Path", "TEXT", "INTEGER")
             if kind in line]
    assert leaks == []


@pytest.mark.parametrize("words", [(), *(words for words, _ in _commands(app))], ids=" ".join)
def test_help_at_80_columns_cuts_nothing(words):
    """At 80 columns no default is cut with an ellipsis and no choice list is broken across lines."""
    import re

    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*words, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in result.output
    broken = [line for line in lines if re.search(r"<[a-z0-9_|+-]+(?:[^a-z0-9_|+>-]|$)", line)]  # a <choice|list> without its end
    assert broken == []


@pytest.mark.parametrize(
    "words, flag, values",
    [(("train",), "--loss", {"image", "adv+image", "feat+image", "feat+adv", "full"}), (("train",), "--precision", {"auto", "fp32", "bf16"}),
     (("eval",), "--split", {"train", "val"}), (("invert",), "--layer", {"conv5", "fc6", "fc7", "fc8", "prob", "norm1"}),
     (("weights", "fetch"), "--source", {"hf", "release", "zoo"}), (("train",), "--gate", {"script", "paper"}),
     (("eval",), "--method", {"generator", "optimize", "mean"})],
)
def test_allowed_values_are_declared_as_choices(words, flag, values):
    command = dict(_commands(app))[words]
    param = next(p for p in command.params if flag in p.opts)
    context = command.make_context(" ".join(words), [], resilient_parsing=True)
    assert values <= {item.value for item in param.shell_complete(context, "")}  # shell completion offers them
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*words, "--help"], terminal_width=250, env={"COLUMNS": "250"})
    line = next(line for line in result.output.splitlines() if line.strip("│* ").startswith(flag))
    assert all(value in line for value in values)  # and help lists them


def test_command_list_keeps_whole_first_sentences():
    code, out, _, _ = probe("--help")
    assert code == 0
    assert "Measure eq." not in out and "calibrate" in out and "lambda-feat" in out
    assert "--install-completion" in out  # shell completion is on


def test_train_and_eval_help_are_grouped():
    _, out, _, _ = probe("train", "--help")
    for panel in ("Data", "Model", "Loss", "Optimisation", "Speed", "Output and resuming"):
        assert f"─ {panel} " in out, panel
    _, out, _, _ = probe("eval", "--help")
    for panel in ("What to evaluate", "Data and protocol", "Baselines", "Output"):
        assert f"─ {panel} " in out, panel


def test_cuda_n_is_in_the_device_help():
    _, out, _, _ = probe("invert", "--help")
    assert "cuda:N" in out


def test_a_group_alone_prints_its_help_without_an_error():
    code, out, err, _ = probe("figure")
    assert "error" not in err.lower().replace("heavy:", "") and "layers" in out and "methods" in out
