"""``invertnet sample --weights runs/vae --count 16 --out samples.png``: images from a VAE's prior (Fig. 8)."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from ..errors import InvertnetError
from ..names import MAX_FRAMES
from .common import announce, check_image_output, check_outputs, check_seed
from .options import DEVICE, ENCODER, out_option, plain


def sample(
    weights: str = typer.Option(..., "--weights", "-w", metavar="WEIGHTS", help="A VAE: its run folder or .safetensors file (invertnet train --model vae)."),
    count: int = typer.Option(16, "--count", "-n", metavar="N", help=f"How many images (1 to {MAX_FRAMES})."),
    out: Path = out_option(Path("samples.png"), "Output image, the samples as a labelled grid; the suffix picks the format: .png, .jpg, .jpeg, .webp."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seeds z ~ N(0, I): the same seed gives the same images on any device."),
    columns: int | None = typer.Option(None, "--columns", metavar="N", show_default=False, help="Images per row of the grid [default: about the square root of --count]."),
    encoder: str | None = ENCODER,
    device: str = DEVICE,
) -> None:
    """Draw z from the VAE's prior N(0, I) and decode: the paper's Fig. 8."""
    if not 1 <= count <= MAX_FRAMES:
        raise InvertnetError(f"--count must be between 1 and {MAX_FRAMES}, got {count}")
    if columns is not None and columns < 1:
        raise InvertnetError(f"--columns must be a positive integer, got {columns}")
    check_seed(seed)
    check_image_output("--out", out)
    check_outputs([], [out], weights)
    from ..data.captions import labelled_rows
    from ..data.imageio import save_image
    from ..inversion import Inverter

    inverter = Inverter.load(None, weights, encoder=encoder, device=device)
    images = inverter.sample(count, seed).cpu()
    per_row = columns or math.ceil(math.sqrt(count))
    rows = [("", images[i : i + per_row]) for i in range(0, count, per_row)]
    title = f"{count} samples from the prior of {Path(inverter.source).parent.name or inverter.source}, seed {seed}"
    announce(save_image(labelled_rows(rows, title=title), out))


def register(app: typer.Typer) -> None:
    app.command("sample", short_help="Draw images from a VAE's prior (Fig. 8).")(plain(sample))
