"""``invertnet features IMAGE... --encoder SPEC --layer L --out F``: an encoder's features of images, one row per image.

The images are cropped and normalised exactly as ``invert`` does (the encoder's center crop of the
short side resized), so ``invert --features F --weights G`` reconstructs what ``invert IMAGE... --weights G``
does. ``.npy`` holds the array alone, in input order; ``.safetensors`` adds each image's name, the
encoder and the layer (README, "Features in and out").
"""

from __future__ import annotations

from pathlib import Path

import typer

from .common import announce, check_outputs, crop_inputs, stderr
from .inputs import STDIN, list_inputs, read
from .options import DEVICE, PRECISION, TRAIN_ENCODER, Precision, layer_option, plain


def features_command(
    images: list[str] = typer.Argument(..., metavar="IMAGE...", show_default=False, help="Images: files, folders (recursively) or - (stdin)."),
    encoder: str = TRAIN_ENCODER,
    layer: str = layer_option(..., help="The layer whose features are written (invertnet layers SPEC lists them)."),
    out: Path = typer.Option(..., "--out", "-o", metavar="PATH", help="The feature file: .npy (the array) or .safetensors (with the images' names)."),
    batch_size: int = typer.Option(64, "--batch-size", metavar="N", help="Images per forward pass."),
    device: str = DEVICE,
    precision: Precision = PRECISION,
) -> None:
    """Write an encoder's features of images at LAYER: one row per image, in input order, as invert crops them."""
    from ..devices import resolve_device
    from ..encoders import encoder_layer, load_encoder
    from ..errors import InvertnetError
    from ..files.features import Features, check_suffix, write_features
    from ..inversion import encode

    check_suffix(out, "--out")
    if batch_size < 1:
        raise InvertnetError(f"--batch-size must be a positive integer, got {batch_size}")
    encoder_layer(encoder, layer)  # before any image is read or weights loaded
    inputs = list_inputs(images)
    check_outputs([item.path for item in inputs if str(item.path) != STDIN], [out])
    pictures = read(inputs)
    network = load_encoder(encoder, device=resolve_device(device))
    with stderr.status(f"{len(pictures)} images through {network.identity} to {layer}"):
        values = encode(network, crop_inputs(pictures, network.input_size), layer, batch_size=batch_size, precision=precision)
    announce(write_features(Features(values, [item.name for item in inputs], network.identity, layer), out))


def register(app: typer.Typer) -> None:
    app.command("features", short_help="Write an encoder's features of images (one row per image) for invert --features.")(plain(features_command))
