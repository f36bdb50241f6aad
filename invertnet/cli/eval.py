"""``invertnet eval``: the Table 2 protocol, printed beside the paper's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..data import SPLITS, eval_count, open_source
from ..errors import InvertnetError
from ..evaluation import PAPER_TABLE2, EvalResult, evaluate
from ..inversion import Inverter
from .common import ALEXNET, DEVICE, LAYER, WEIGHTS, announce, stderr


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def table(result: EvalResult) -> Table:
    """This run's errors and the paper's Table 2 row for the same layer, in %."""
    view = Table(title=f"Normalized inversion error, {result.layer} (%; 100 = a random test image)", title_justify="left")
    for column in ("method", "image", "feature"):
        view.add_column(column, justify="left" if column == "method" else "right")
    view.add_row(f"this run: {Path(result.checkpoint).name} (n={result.n})", f"{100 * result.image_error:.1f}", f"{100 * result.feature_error:.1f}")
    for method, (image, feature) in PAPER_TABLE2[result.layer].items():
        view.add_row(f"paper: {method}", _percent(image), _percent(feature), style="dim")
    view.caption = f"AlexNet {result.alexnet}; data {result.data}. Paper: CaffeNet with ImageNet weights, ILSVRC-2012 val."
    return view


def eval_command(
    layer: str = LAYER,
    data: str = typer.Option(..., "--data", help="An ILSVRC-2012 root, an image folder, or 'synthetic'."),
    split: str = typer.Option("val", "--split", help=f"Which split of an ILSVRC-2012 root or of synthetic: {', '.join(SPLITS)}."),
    weights: str | None = WEIGHTS,
    limit: int | None = typer.Option(None, "--limit", help="Evaluate the first N images only [default: all]."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Images per forward pass."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the figures to this JSON file ('-' for stdout)."),
    save_reconstructions: Path | None = typer.Option(None, "--save-reconstructions", help="Write DIR/input/NAME.png and DIR/recon/NAME.png."),
    alexnet: str = ALEXNET,
    device: str = DEVICE,
) -> None:
    """Normalized Euclidean error in image and feature space (Table 2 of the paper)."""
    if limit is not None and limit < 2:
        raise InvertnetError(f"--limit must be at least 2 (the error is normalised by distances between test images), got {limit}")
    if batch_size < 1:
        raise InvertnetError(f"--batch-size must be a positive integer, got {batch_size}")
    source = open_source(data, split)
    inverter = Inverter.load(layer, weights, alexnet=alexnet, device=device)
    total = eval_count(source, limit)
    with Progress(TextColumn("eval"), MofNCompleteColumn(), BarColumn(), TimeRemainingColumn(), console=stderr, transient=True) as progress:
        task = progress.add_task("eval", total=total)
        result = evaluate(
            inverter, source, limit=limit, batch_size=batch_size, save_dir=save_reconstructions,
            data_name=f"{data} ({split})",
            on_batch=lambda done: progress.update(task, completed=done),
        )
    Console().print(table(result))
    if json_path is not None:
        text = json.dumps(result.summary(), indent=2) + "\n"
        if str(json_path) == "-":
            print(text, end="")
        else:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(text)
            announce(json_path)
    if save_reconstructions is not None:
        announce(save_reconstructions)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
