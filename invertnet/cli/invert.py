"""``invertnet invert IMAGE... --layer fc7``: reconstruct images from their features."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InvertnetError
from ..imageio import save_image, strip
from ..inversion import Inverter
from .common import ALEXNET, DEVICE, LAYER, WEIGHTS, announce, load_inputs


def invert(
    images: list[Path] = typer.Argument(..., help="Images to reconstruct (any format Pillow reads)."),
    layer: str = LAYER,
    weights: str | None = WEIGHTS,
    out: Path | None = typer.Option(None, "--out", "-o", help="Output .png (one image) or folder [default: IMAGE_STEM.LAYER.png here]."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write input and reconstruction next to each other."),
    alexnet: str = ALEXNET,
    device: str = DEVICE,
) -> None:
    """Reconstruct each image from its AlexNet features at LAYER and write it as a PNG."""
    inputs = load_inputs(images)
    inverter = Inverter.load(layer, weights, alexnet=alexnet, device=device)
    recon = inverter.invert(inputs).cpu()
    single_file = out is not None and out.suffix.lower() == ".png"
    if single_file and len(images) > 1:
        raise InvertnetError(f"--out {out} names one file, but {len(images)} images were given: pass a folder")
    for path, image, reconstruction in zip(images, inputs, recon):
        picture = strip([image, reconstruction]) if side_by_side else reconstruction
        target = out if single_file else (out or Path(".")) / f"{path.stem}.{layer}.png"
        announce(save_image(picture, target))


def register(app: typer.Typer) -> None:
    app.command("invert")(invert)
