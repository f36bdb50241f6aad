"""``invertnet demo``: the whole tool offline on the CPU in a few minutes (see :mod:`invertnet.demo`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InvertnetError
from .common import stderr, stdout_console
from .options import DEVICE, TrainableLayer, plain
from .progress import TrainDisplay


def demo(
    out: Path = typer.Option(Path("demo"), "--out", "-o", metavar="FOLDER", help="Folder for the run and the pictures."),
    layer: TrainableLayer = typer.Option("conv5", "--layer", "-l", help="Layer to invert."),
    steps: int = typer.Option(200, "--steps", metavar="N", help="Training steps."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", metavar="N", help="Images per step."),
    device: str = DEVICE,
) -> None:
    """Train a small generator on synthetic images against a random AlexNet, then invert, re-encode, interpolate, evaluate."""
    from ..demo import DEMO_ENCODER, check_demo_folder, run_demo
    from .eval import table

    for flag, value in (("--steps", steps), ("--batch-size", batch_size)):
        if value < 1:
            raise InvertnetError(f"{flag} must be a positive integer, got {value}")
    check_demo_folder(out)
    stderr.print(
        f"training {layer} with the image loss for {steps} steps of {batch_size} synthetic images against AlexNet {DEMO_ENCODER} ...",
        highlight=False,
    )
    with TrainDisplay() as display:
        result = run_demo(out, layer=layer, steps=steps, batch_size=batch_size, device=device, on_start=display.start, on_log=display.update)
    console = stdout_console()
    console.print(table([result.result, result.baseline], width=console.width))
    verdict = "beats" if result.result.image_error < result.baseline.image_error else "does NOT beat"
    print(f"the generator {verdict} the mean training image in image error "
          f"({100 * result.result.image_error:.1f}% against {100 * result.baseline.image_error:.1f}%)")
    print(f"reconstructions of different inputs differ: their mean distance is {100 * result.spread:.0f}% of the inputs' "
          "(0% = the same image for every input)")
    print(f"run folder (checkpoint, samples/, metrics.jsonl): {result.run}")
    print(f"inversions (inputs above, reconstructions below): {result.invert}")
    print(f"re-encoding, Fig. 5: {result.reencode}")
    print(f"interpolation, Fig. 7: {result.interpolate} and {result.gif}")
    print(f"the table as eval's JSON: {result.results_json}")


def register(app: typer.Typer) -> None:
    app.command("demo", short_help="Train and use a small generator offline on the CPU, in minutes.")(plain(demo))
