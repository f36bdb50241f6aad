"""``invertnet invert IMAGE... --layer fc7``: reconstruct images from their features.

``--method optimize`` runs Mahendran & Vedaldi's optimisation instead of a trained generator.
"""

from __future__ import annotations

from pathlib import Path

import torch
import typer

from ..data.imageio import IMAGE_SUFFIXES, save_image, strip
from ..devices import resolve_device
from ..encoders import input_size, load_encoder
from ..errors import InvertnetError
from ..evaluation.optimize import MahendranVedaldi, OptimizeConfig
from ..inversion import Inverter
from ..precision import PRECISIONS
from .common import (
    ALEXNET,
    DEVICE,
    LAYER,
    WEIGHTS,
    announce,
    check_outputs,
    crop_inputs,
    output_folder,
    output_tag,
    progress_bar,
    read_inputs,
    refuse,
)


def reconstruct_by_optimisation(inputs: torch.Tensor, layer: str, alexnet: str, device: str, iterations: int) -> torch.Tensor:
    """Mahendran & Vedaldi for every input at once, with a progress bar on stderr."""
    network = load_encoder(alexnet, device=resolve_device(device))
    optimizer = MahendranVedaldi(network, layer, OptimizeConfig().scaled(iterations))
    with progress_bar("optimize") as progress:
        task = progress.add_task("optimize", total=iterations)
        return optimizer.invert(inputs, on_iteration=lambda done, total: progress.update(task, completed=done)).cpu()


def invert(
    ctx: typer.Context,
    images: list[Path] = typer.Argument(..., help="Images to reconstruct (any format Pillow reads)."),
    layer: str | None = LAYER,
    weights: str | None = WEIGHTS,
    method: str = typer.Option("generator", "--method", help="'generator' (a trained DeePSiM generator) or 'optimize' (Mahendran & Vedaldi)."),
    iterations: int = typer.Option(OptimizeConfig().iterations, "--iterations", help="Iterations of --method optimize (its schedule is scaled)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output .png (one image) or folder [default: IMAGE_STEM.LAYER.png here; IMAGE_STEM.vae.png for a VAE, .autoencoder.png]."
    ),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write input and reconstruction next to each other."),
    alexnet: str | None = ALEXNET,
    device: str = DEVICE,
    precision: str = typer.Option("fp32", "--precision", help=f"Generator path: {', '.join(PRECISIONS)} (bf16: autocast and channels_last, for throughput on a GPU)."),
) -> None:
    """Reconstruct each image from its features at LAYER (or through a VAE or autoencoder) and write it as a PNG."""
    if method not in ("generator", "optimize"):
        raise InvertnetError(f"unknown --method {method!r}: choose generator or optimize")
    if method == "optimize":
        refuse(ctx, ["weights", "precision"], "to --method optimize, which uses no generator")
    else:
        refuse(ctx, ["iterations"], "to --method generator (it sets --method optimize's iterations)")
    if iterations < 1:
        raise InvertnetError(f"--iterations must be a positive integer, got {iterations}")
    if out is not None and out.suffix.lower() in IMAGE_SUFFIXES and out.suffix.lower() != ".png":
        raise InvertnetError(f"--out {out}: reconstructions are written as PNG; name a .png file or a folder")
    single_file = out is not None and out.suffix.lower() == ".png"
    if single_file and len(images) > 1:
        raise InvertnetError(f"--out {out} names one file, but {len(images)} images were given: pass a folder")
    if method == "optimize" and layer is None:
        raise InvertnetError("--method optimize needs --layer")
    suffix = f"{output_tag(weights, layer)}.png" if method == "generator" else f"{layer}.optimize.png"
    targets = [out] if single_file else [output_folder(out) / f"{path.stem}.{suffix}" for path in images]
    check_outputs(images, targets, weights)
    pictures = read_inputs(images)
    if method == "optimize":
        spec = alexnet or "imagenet"
        inputs = crop_inputs(pictures, input_size(spec))
        recon = reconstruct_by_optimisation(inputs, str(layer), spec, device, iterations)
    else:
        inverter = Inverter.load(layer, weights, alexnet=alexnet, device=device, precision=precision)
        inputs = crop_inputs(pictures, inverter.input_size)
        recon = inverter.invert(inputs).cpu()
    for target, image, reconstruction in zip(targets, inputs, recon):
        picture = strip([image, reconstruction]) if side_by_side else reconstruction
        announce(save_image(picture, target))


def register(app: typer.Typer) -> None:
    app.command("invert")(invert)
