"""``invertnet interpolate A B --layer fc6 --steps 8``: Fig. 7 of the paper; with a VAE's --weights, its latent space."""

from __future__ import annotations

from pathlib import Path

import torch
import typer

from ..data.imageio import save_gif, save_image, strip
from ..inversion import Inverter
from .common import ALEXNET, DEVICE, LAYER, WEIGHTS, announce, check_outputs, crop_inputs, output_tag, read_inputs


def interpolate(
    first: Path = typer.Argument(..., help="Image at one end."),
    second: Path = typer.Argument(..., help="Image at the other end."),
    layer: str | None = LAYER,
    steps: int = typer.Option(8, "--steps", "-n", help="Reconstructions along the line, ends included."),
    weights: str | None = WEIGHTS,
    out: Path | None = typer.Option(None, "--out", "-o", help="Output .png [default: A_STEM-B_STEM.LAYER.interpolate.png here]."),
    gif: bool = typer.Option(False, "--gif", help="Also write an animated GIF beside the strip (the --out name with .gif)."),
    alexnet: str | None = ALEXNET,
    device: str = DEVICE,
) -> None:
    """Interpolate linearly between two feature vectors (or two VAE/autoencoder codes); write A, the reconstructions, and B as one strip."""
    target = out or Path(f"{first.stem}-{second.stem}.{output_tag(weights, layer)}.interpolate.png")
    check_outputs([first, second], [target, target.with_suffix(".gif")] if gif else [target], weights)
    images = read_inputs([first, second])
    inverter = Inverter.load(layer, weights, alexnet=alexnet, device=device)
    inputs = crop_inputs(images, inverter.input_size)
    frames = inverter.interpolate(inputs[0], inputs[1], steps).cpu()
    announce(save_image(strip(torch.cat([inputs[:1], frames, inputs[1:]])), target))
    if gif:
        announce(save_gif(list(frames), target.with_suffix(".gif")))


def register(app: typer.Typer) -> None:
    app.command("interpolate")(interpolate)
