"""Options and helpers shared by the subcommands."""

from __future__ import annotations

from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..data import eval_crop
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
ALEXNET = typer.Option("imagenet", "--alexnet", help="AlexNet weights: imagenet, a state-dict file, or random:SEED.")
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")


def load_inputs(paths: list[Path]) -> torch.Tensor:
    """Read and center-crop every image named on the command line before any work starts."""
    return torch.stack([eval_crop(load_image(path)) for path in paths])


def announce(path: Path) -> None:
    """Results (written files) go to stdout, one per line."""
    print(path)
