"""``invertnet calibrate --data DIR --alexnet SPEC [--comparator C]``: the lambda_feat that matches the paper's (see :mod:`invertnet.training.calibrate`)."""

from __future__ import annotations

import json

import typer

from ..data.datasets import open_source
from ..devices import resolve_device
from ..encoders import load_encoder
from ..training.calibrate import REFERENCE_ENCODER, calibrate
from ..training.losses import COMPARATORS
from .common import DEVICE, TRAIN_ALEXNET, stderr, stdout_console


def calibrate_command(
    data: str = typer.Option(..., "--data", help="The training data: an image folder, an ILSVRC-2012 root (its train/), or 'synthetic'."),
    alexnet: str = TRAIN_ALEXNET,
    comparator: str = typer.Option("conv5", "--comparator", help=f"The run's comparator: {', '.join(c for c in COMPARATORS if c != 'none')}."),
    reference: str = typer.Option(
        REFERENCE_ENCODER, "--reference", help="The encoder whose conv5 sets the scale: the paper's CaffeNet with ImageNet weights (caffenet or caffenet:PATH).",
    ),
    images: int = typer.Option(64, "--images", "-n", help="Training images compared pairwise (the first N)."),
    json_output: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    device: str = DEVICE,
) -> None:
    """Measure eq. 2 between pairs of training images for the run's comparator and for CaffeNet's conv5; print the --lambda-feat that matches."""
    torch_device = resolve_device(device)
    source = open_source(data, "train")
    with stderr.status(f"comparing {images} images pairwise"):
        result = calibrate(
            source, load_encoder(alexnet, device=torch_device), comparator, load_encoder(reference, device=torch_device), images
        )
    if json_output:
        print(json.dumps(result.to_dict(), indent=2))
        return
    out = stdout_console()
    out.print(f"mean 1/2 |C(x) - C(x')|^2 over {images * (images - 1) // 2} pairs of {images} images of {data}:", highlight=False)
    out.print(f"  {comparator} of {result.encoder}: {result.distance:.6g}", highlight=False)
    out.print(f"  conv5 of {result.reference} (the reference): {result.reference_distance:.6g}", highlight=False)
    out.print(f"lambda_feat = 0.01 x {result.reference_distance:.6g} / {result.distance:.6g} = {result.lambda_feat:.6g}", highlight=False)
    out.print(f"train with: --comparator {comparator} --lambda-feat {result.lambda_feat:.3g}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate_command)
