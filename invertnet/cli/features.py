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
from .options import DEVICE, PRECISION, TRAIN_ENCODER, Precision, flag, layer_option, plain
from .progress import progress_bar


def features_command(
    images: list[str] = typer.Argument(..., metavar="IMAGE...", show_default=False, help="Images: files, folders (recursively) or - (stdin)."),
    encoder: str = TRAIN_ENCODER,
    layers: list[str] = layer_option(
        ..., help="The layer whose features are written (invertnet layers SPEC lists them); with --stats, repeat it or separate layers by commas "
        "(a feature tree's names, e.g. conv1_1,relu7).",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", metavar="PATH",
        help="The feature file: .npy (the array) or .safetensors (with the images' names); with --stats a .mat file.",
    ),
    stats: bool = flag(
        False, "--stats", help="Write each layer's per-channel SD of the images' features (ddof 1) to a MATLAB .mat file, one key per layer: "
        "the --feature-std file of invert --features ROOT.",
    ),
    batch_size: int = typer.Option(64, "--batch-size", metavar="N", help="Images per forward pass."),
    device: str = DEVICE,
    precision: Precision = PRECISION,
) -> None:
    """Write an encoder's features of images at LAYER: one row per image, in input order, as invert crops them (or, with --stats, their SD)."""
    from ..devices import resolve_device
    from ..encoders import encoder_layer, load_encoder
    from ..errors import InvertnetError
    from ..files.features import Features, check_suffix, write_features
    from ..inversion import encode

    if batch_size < 1:
        raise InvertnetError(f"--batch-size must be a positive integer, got {batch_size}")
    names = list(dict.fromkeys(name.strip() for value in layers for name in value.split(",") if name.strip()))
    if stats:
        _write_stats(images, encoder, names, out, batch_size, device)
        return
    check_suffix(out, "--out")
    if len(names) != 1:
        raise InvertnetError(f"one --layer at a time ({', '.join(names)} given): a feature file holds one layer; --stats takes several")
    layer = names[0]
    encoder_layer(encoder, layer)  # before any image is read or weights loaded
    inputs = list_inputs(images)
    check_outputs([item.path for item in inputs if str(item.path) != STDIN], [out])
    pictures = read(inputs)
    network = load_encoder(encoder, device=resolve_device(device))
    with stderr.status(f"{len(pictures)} images through {network.identity} to {layer}"):
        values = encode(network, crop_inputs(pictures, network.input_size), layer, batch_size=batch_size, precision=precision)
    announce(write_features(Features(values, [item.name for item in inputs], network.identity, layer), out))


def _write_stats(images: list[str], encoder: str, layers: list[str], out: Path, batch_size: int, device: str) -> None:
    """``features --stats``: the per-channel SD of each layer (a tree's names) over the images, as a MATLAB v5 file."""
    import torch

    from ..decoded.statistics import FeatureStatistics
    from ..devices import resolve_device
    from ..encoders import load_encoder
    from ..encoders.tree_taps import check_tree_layer, tree_features
    from ..errors import InvertnetError
    from ..files.matfiles import write_mat

    if out.suffix.lower() != ".mat":
        raise InvertnetError(f"--out {out}: --stats writes a MATLAB .mat file (what the cookbook's scripts read with scipy.io.loadmat)")
    inputs = list_inputs(images)
    if len(inputs) < 2:
        raise InvertnetError("--stats needs at least two images (an SD with ddof 1)")
    check_outputs([item.path for item in inputs if str(item.path) != STDIN], [out])
    network = load_encoder(encoder, device=resolve_device(device))
    for layer in layers:
        check_tree_layer(network, layer)
    statistics = FeatureStatistics(tuple(layers))
    with progress_bar() as progress:
        task = progress.add_task("stats", total=len(inputs))
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start : start + batch_size]
            pictures = crop_inputs(read(chunk), network.input_size)
            with torch.no_grad():
                statistics.add(tree_features(network, torch.stack(list(pictures)).to(network.device), tuple(layers)))
            progress.update(task, completed=start + len(chunk))
    announce(write_mat(statistics.std(), out))


def register(app: typer.Typer) -> None:
    app.command("features", short_help="Write an encoder's features of images (one row per image) for invert --features.")(plain(features_command))
