"""``invertnet interpolate A B --layer fc6 --frames 8``: Fig. 7 of the paper; with a VAE's --weights, its latent space."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import announce, check_image_output, check_outputs, crop_inputs, output_tag, read_inputs
from .options import DEVICE, ENCODER, LAYER, WEIGHTS, flag, out_option, plain


def interpolate(
    first: Path = typer.Argument(..., metavar="A", show_default=False, help="Image at one end."),
    second: Path = typer.Argument(..., metavar="B", show_default=False, help="Image at the other end."),
    layer: str | None = LAYER,
    frames: int = typer.Option(8, "--frames", "-n", metavar="N", help="Reconstructions along the line, ends included."),
    weights: str | None = WEIGHTS,
    out: Path | None = out_option(
        None, "Output: a labelled strip (.png, .jpg, .jpeg, .webp) or the frames as an animation (.gif) "
        "[default: A_STEM-B_STEM.LAYER.interpolate.png here].",
    ),
    gif: bool = flag(False, "--gif", help="Also write the frames as an animated GIF beside the strip (the --out name with .gif)."),
    encoder: str | None = ENCODER,
    device: str = DEVICE,
) -> None:
    """Interpolate linearly between two feature vectors (or two VAE/autoencoder codes); write A, the reconstructions, and B."""
    import torch

    from ..data.captions import labelled_rows
    from ..data.imageio import save_gif, save_image
    from ..errors import InvertnetError
    from ..inversion import Inverter

    target = out or Path(f"{first.stem}-{second.stem}.{output_tag(weights, layer, encoder)}.interpolate.png")
    check_image_output("--out", target, animation=True)
    animation = target.suffix.lower() == ".gif"
    if animation and gif:
        raise InvertnetError(f"--out {target} is already the animation: --gif adds one beside a still strip")
    targets = [target, target.with_suffix(".gif")] if gif else [target]
    check_outputs([first, second], targets, weights)
    images = read_inputs([first, second])
    inverter = Inverter.load(layer, weights, encoder=encoder, device=device)
    inputs = crop_inputs(images, inverter.input_size)
    frames_made = inverter.interpolate(inputs[0], inputs[1], frames).cpu()
    if animation:
        announce(save_gif(list(frames_made), target))
        return
    steps = [f"{k / (frames - 1):.2f}" for k in range(frames)]
    title = f"interpolation in {inverter.layer} ({Path(inverter.source).name}): A, reconstructions at each fraction of the way, B"
    strip = labelled_rows([("", torch.cat([inputs[:1], frames_made, inputs[1:]]))], columns=["A", *steps, "B"], title=title)
    announce(save_image(strip, target))
    if gif:
        announce(save_gif(list(frames_made), targets[1]))


def register(app: typer.Typer) -> None:
    app.command("interpolate", short_help="Reconstruct along the line between two images' features (Fig. 7).")(plain(interpolate))
