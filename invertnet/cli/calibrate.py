"""``invertnet calibrate --data DIR --encoder SPEC [--comparator C]``: the lambda_feat that matches the paper's (see :mod:`invertnet.training.calibrate`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..names import CAFFENET
from ..version import versioned
from .common import check_results_file, stderr, stdout_console, write_json_record
from .options import COMPARATOR_HELP, DEVICE, TRAIN_ENCODER, json_option, plain


def calibrate_command(
    data: str = typer.Option(..., "--data", metavar="FOLDER", help="The training data: an image folder, an ILSVRC-2012 root (its train/), or 'synthetic'."),
    encoder: str = TRAIN_ENCODER,
    comparator: str | None = typer.Option(None, "--comparator", metavar="LAYER", show_default=False, help="The run's comparator. " + COMPARATOR_HELP),
    reference: str = typer.Option(
        CAFFENET, "--reference", metavar="SPEC", help="The encoder whose conv5 sets the scale: the paper's CaffeNet with ImageNet weights (caffenet or caffenet:PATH).",
    ),
    count: int = typer.Option(64, "--count", "-n", metavar="N", help="Training images compared pairwise (the first N)."),
    json_path: Path | None = json_option("the figures"),
    device: str = DEVICE,
) -> None:
    """Measure eq. 2 between pairs of training images for the run's comparator and for CaffeNet's conv5; print the --lambda-feat that matches."""
    from ..data.datasets import open_source
    from ..devices import resolve_device
    from ..encoders import load_encoder
    from ..training.calibrate import calibrate

    check_results_file("--json", json_path, ".json")
    torch_device = resolve_device(device)
    source = open_source(data, "train")
    network = load_encoder(encoder, device=torch_device)
    comparator = comparator or network.comparator_layer
    with stderr.status(f"comparing {count} images pairwise"):
        result = calibrate(source, network, comparator, load_encoder(reference, device=torch_device), count)
    if json_path is not None:
        write_json_record(json_path, versioned("calibrate", result.to_dict()))
        if str(json_path) == "-":  # stdout is the JSON alone
            return
    out = stdout_console()
    images = count
    out.print(f"mean 1/2 |C(x) - C(x')|^2 over {images * (images - 1) // 2} pairs of {images} images of {data}:", highlight=False)
    out.print(f"  {comparator} of {result.encoder}: {result.distance:.6g}", highlight=False)
    out.print(f"  conv5 of {result.reference} (the reference): {result.reference_distance:.6g}", highlight=False)
    out.print(f"lambda_feat = 0.01 x {result.reference_distance:.6g} / {result.distance:.6g} = {result.lambda_feat:.6g}", highlight=False)
    out.print(f"train with: --comparator {comparator} --lambda-feat {result.lambda_feat:.3g}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("calibrate", short_help="Find the --lambda-feat that matches the paper's feature term for your encoder.")(plain(calibrate_command))
