"""``invertnet demo``: the whole tool offline on the CPU in a few minutes (see :mod:`invertnet.demo`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..demo import DEMO_ALEXNET, check_demo_folder, run_demo
from ..encoders.alexnet import check_trainable_layer
from ..errors import InvertnetError
from .common import DEVICE, stderr, stdout_console
from .eval import table


def demo(
    out: Path = typer.Option(Path("demo"), "--out", "-o", help="Folder for the run and the pictures."),
    layer: str = typer.Option("conv5", "--layer", "-l", help="Layer to invert."),
    steps: int = typer.Option(300, "--steps", help="Training steps."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Images per step."),
    device: str = DEVICE,
) -> None:
    """Train a small generator on synthetic images against a random AlexNet, then invert, re-encode, interpolate, evaluate."""
    for flag, value in (("--steps", steps), ("--batch-size", batch_size)):
        if value < 1:
            raise InvertnetError(f"{flag} must be a positive integer, got {value}")
    check_trainable_layer(layer)
    check_demo_folder(out)
    stderr.print(
        f"training {layer} with the image loss for {steps} steps of {batch_size} synthetic images against AlexNet {DEMO_ALEXNET} ...",
        highlight=False,
    )

    def log(record: dict[str, object]) -> None:
        stderr.print(f"  step {record['step']}/{record['steps']} loss {record['loss']:.4g} ({record['images_per_s']:.1f} img/s)", highlight=False)

    result = run_demo(out, layer=layer, steps=steps, batch_size=batch_size, device=device, on_log=log)
    stdout_console().print(table([result.result, result.baseline]))
    verdict = "beats" if result.result.image_error < result.baseline.image_error else "does NOT beat"
    print(f"the generator {verdict} the mean training image in image error "
          f"({100 * result.result.image_error:.1f}% against {100 * result.baseline.image_error:.1f}%)")
    print(f"reconstructions of different inputs differ: their mean distance is {100 * result.spread:.0f}% of the inputs' "
          "(0% = the same image for every input)")
    print(f"run folder (checkpoint, samples/, metrics.jsonl): {result.run}")
    print(f"inversions (inputs above, reconstructions below): {result.invert}")
    print(f"re-encoding, Fig. 5: {result.reencode}")
    print(f"interpolation, Fig. 7: {result.interpolate} and {result.gif}")
    print(f"Table 2 figures: {result.eval_json}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
