"""``invertnet sample --weights runs/vae --count 16 --out samples.png``: images from a VAE's prior (Fig. 8)."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from ..data.imageio import grid, save_image
from ..encoders.alexnet import MAX_SEED
from ..errors import InvertnetError
from ..inversion import MAX_FRAMES, Inverter
from .common import ALEXNET, DEVICE, announce, check_outputs

SAMPLE_WEIGHTS = typer.Option(..., "--weights", "-w", help="A VAE: its run folder or .safetensors file (invertnet train --model vae).")


def sample(
    weights: str = SAMPLE_WEIGHTS,
    count: int = typer.Option(16, "--count", "-n", help=f"How many samples (1 to {MAX_FRAMES})."),
    out: Path = typer.Option(Path("samples.png"), "--out", "-o", help="Output .png: the samples as a grid."),
    seed: int = typer.Option(0, "--seed", help="Seeds z ~ N(0, I): the same seed gives the same images on any device."),
    columns: int | None = typer.Option(None, "--columns", help="Images per row of the grid [default: about the square root of --count]."),
    alexnet: str | None = ALEXNET,
    device: str = DEVICE,
) -> None:
    """Draw z from the VAE's prior N(0, I) and decode: the paper's Fig. 8."""
    if not 1 <= count <= MAX_FRAMES:
        raise InvertnetError(f"--count must be between 1 and {MAX_FRAMES}, got {count}")
    if columns is not None and columns < 1:
        raise InvertnetError(f"--columns must be a positive integer, got {columns}")
    if not 0 <= seed <= MAX_SEED:
        raise InvertnetError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed}")
    if out.suffix.lower() != ".png":
        raise InvertnetError(f"--out {out}: samples are written as a PNG grid; name a .png file")
    check_outputs([], [out], weights)
    inverter = Inverter.load(None, weights, alexnet=alexnet, device=device)
    images = inverter.sample(count, seed).cpu()
    announce(save_image(grid(images, columns=columns or math.ceil(math.sqrt(count))), out))


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
