"""``invertnet reencode IMAGE --layer fc6 --iterations 8``: Fig. 5 of the paper."""

from __future__ import annotations

from pathlib import Path

import typer

from ..version import versioned
from .common import (
    announce, check_image_output, check_outputs, check_results_file, crop_inputs, generator_facts, output_tag, read_inputs,
    write_json_record,
)
from .options import DEVICE, ENCODER, LAYER, WEIGHTS, json_option, out_option, plain


def reencode(
    image: Path = typer.Argument(..., metavar="IMAGE", show_default=False, help="The starting image."),
    layer: str | None = LAYER,
    iterations: int = typer.Option(8, "--iterations", metavar="N", help="How many times to encode and reconstruct."),
    weights: str | None = WEIGHTS,
    out: Path | None = out_option(None, "Output image; the suffix picks the format: .png, .jpg, .jpeg, .webp [default: IMAGE_STEM.LAYER.reencode.png here]."),
    json_path: Path | None = json_option("the input, the generator, the settings and the output"),
    encoder: str | None = ENCODER,
    device: str = DEVICE,
) -> None:
    """Encode, reconstruct, and repeat; write input and every iterate as one labelled strip."""
    from ..data.captions import labelled_rows
    from ..data.imageio import save_image
    from ..inversion import Inverter

    target = out or Path(f"{image.stem}.{output_tag(weights, layer, encoder)}.reencode.png")
    check_image_output("--out", target)
    check_results_file("--json", json_path, ".json")
    check_outputs([image], [target], weights)
    images = read_inputs([image])
    inverter = Inverter.load(layer, weights, encoder=encoder, device=device)
    inputs = crop_inputs(images, inverter.input_size)
    frames = inverter.reencode(inputs[0], iterations).cpu()
    labels = ["input", *(f"iteration {k}" for k in range(1, len(frames)))]
    title = f"re-encoding through {inverter.layer} ({inverter.label}, encoder {inverter.encoder.identity})"
    announce(save_image(labelled_rows([("", frames)], columns=labels, title=title), target), json_path)
    if json_path is not None:
        facts = generator_facts(inverter)
        facts["settings"]["iterations"] = iterations  # type: ignore[index]
        write_json_record(json_path, versioned("reencode", {**facts, "input": str(image), "output": str(target)}))


def register(app: typer.Typer) -> None:
    app.command("reencode", short_help="Encode, reconstruct and repeat: what survives the layer (Fig. 5).")(plain(reencode))
