"""Options and helpers shared by the subcommands."""

from __future__ import annotations

from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..data import eval_crop
from ..errors import InvertnetError
from ..imageio import load_image

stderr = Console(stderr=True)


def stdout_console() -> Console:
    """Results on stdout; wide enough for the tables when it is a file or a pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=220)


def progress_bar(label: str) -> Progress:
    """A transient progress bar on stderr: label, done/total, bar, time left."""
    return Progress(TextColumn(label), MofNCompleteColumn(), BarColumn(), TimeRemainingColumn(), console=stderr, transient=True)


LAYER = typer.Option(..., "--layer", "-l", help="AlexNet layer to invert: conv5, fc6, fc7 or fc8.")
WEIGHTS = typer.Option(None, "--weights", "-w", help="Generator: a .safetensors file or a run folder [default: weights/LAYER.safetensors].")
ALEXNET = typer.Option(
    "imagenet", "--alexnet", help="AlexNet weights: imagenet, a state-dict file, random:SEED (variance-preserving) or random-torchvision:SEED."
)
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")


def given(ctx: typer.Context, *names: str) -> list[str]:
    """The options among ``names`` (parameter names) that the command line set, as their flags."""
    flags = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name) if param.name in names else None
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            flags.append(param.opts[0])
    return flags


def refuse(ctx: typer.Context, names: list[str], why: str) -> None:
    """Stop with one clear error if the user gave any of these options, which would be ignored ``why``."""
    flags = given(ctx, *names)
    if flags:
        raise InvertnetError(f"{', '.join(flags)} {'does' if len(flags) == 1 else 'do'} not apply {why}")


def load_inputs(paths: list[Path]) -> torch.Tensor:
    """Read and center-crop every image named on the command line before any work starts."""
    return torch.stack([eval_crop(load_image(path)) for path in paths])


def announce(path: Path) -> None:
    """Results (written files) go to stdout, one per line."""
    print(path)
