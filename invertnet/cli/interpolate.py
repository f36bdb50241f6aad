"""``invertnet interpolate A B --layer fc6 --frames 8``: Fig. 7 of the paper; with a VAE's --weights, its latent space."""

from __future__ import annotations

from pathlib import Path

import typer

from ..version import versioned
from .common import (
    announce, check_image_output, check_outputs, check_results_file, crop_inputs, generator_facts, output_tag, read_inputs,
    write_json_record,
)
from .options import DEVICE, ENCODER, LAYER, WEIGHTS, flag, json_option, out_option, plain


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
    json_path: Path | None = json_option("the inputs, the generator, the fractions and the outputs"),
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
    check_results_file("--json", json_path, ".json")
    check_outputs([first, second], targets, weights)
    images = read_inputs([first, second])
    inverter = Inverter.load(layer, weights, encoder=encoder, device=device)
    inputs = crop_inputs(images, inverter.input_size)
    frames_made = inverter.interpolate(inputs[0], inputs[1], frames).cpu()
    fractions = [k / (frames - 1) for k in range(frames)]
    if animation:
        announce(save_gif(list(frames_made), target), json_path)
    else:
        title = f"interpolation in {inverter.layer} ({inverter.label}): A, reconstructions at each fraction of the way, B"
        columns = ["A", *(f"{fraction:.2f}" for fraction in fractions), "B"]
        announce(save_image(labelled_rows([("", torch.cat([inputs[:1], frames_made, inputs[1:]]))], columns=columns, title=title), target), json_path)
        if gif:
            announce(save_gif(list(frames_made), targets[1]), json_path)
    if json_path is not None:
        record = {**generator_facts(inverter), "inputs": [str(first), str(second)], "frames": frames, "fractions": fractions,
                  "outputs": [str(path) for path in targets]}
        write_json_record(json_path, versioned("interpolate", record))


def register(app: typer.Typer) -> None:
    app.command("interpolate", short_help="Reconstruct along the line between two images' features (Fig. 7).")(plain(interpolate))
