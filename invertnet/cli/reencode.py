"""``invertnet reencode IMAGE --layer fc6 --iterations 8``: Fig. 5 of the paper."""

from __future__ import annotations

from pathlib import Path

import typer

from ..data.imageio import save_image, strip
from ..inversion import Inverter
from .common import ALEXNET, DEVICE, LAYER, WEIGHTS, announce, check_outputs, crop_inputs, output_tag, read_inputs


def reencode(
    image: Path = typer.Argument(..., help="The starting image."),
    layer: str | None = LAYER,
    iterations: int = typer.Option(8, "--iterations", "-n", help="How many times to encode and reconstruct."),
    weights: str | None = WEIGHTS,
    out: Path | None = typer.Option(None, "--out", "-o", help="Output .png [default: IMAGE_STEM.LAYER.reencode.png here]."),
    alexnet: str | None = ALEXNET,
    device: str = DEVICE,
) -> None:
    """Encode, reconstruct, and repeat; write input and every iterate as one strip."""
    target = out or Path(f"{image.stem}.{output_tag(weights, layer)}.reencode.png")
    check_outputs([image], [target], weights)
    images = read_inputs([image])
    inverter = Inverter.load(layer, weights, alexnet=alexnet, device=device)
    inputs = crop_inputs(images, inverter.input_size)
    frames = inverter.reencode(inputs[0], iterations)
    announce(save_image(strip(frames), target))


def register(app: typer.Typer) -> None:
    app.command("reencode")(reencode)
