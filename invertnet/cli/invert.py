"""``invertnet invert IMAGE... --layer fc7``: reconstruct images from their features.

IMAGE may be a file, a folder (every image under it, by the data folder's rules) or ``-`` (one image on
stdin). ``--method optimize`` runs Mahendran & Vedaldi's optimisation instead of a trained generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import InvertnetError
from ..names import ICNN_ITERATIONS, MAX_BATCH, OPTIMIZE_ITERATIONS
from ..version import versioned
from .common import (
    announce, check_image_output, check_outputs, check_results_file, check_seed, crop_inputs, generator_facts, given, output_folder, output_tag, refuse, stderr,
    write_json_record,
)
from .inputs import STDIN, list_inputs, read
from .options import DEVICE, ENCODER, LAYER, PRECISION, WEIGHTS, Precision, choices, flag, json_option, out_option, plain
from .progress import progress_bar

if TYPE_CHECKING:
    import torch


InvertMethod = choices("InvertMethod", ("generator", "optimize", "icnn"))
FeatureScaling = choices("FeatureScaling", ("none", "feature_std", "feature_std_train_mean_center"))
TREE = "Feature trees (--features ROOT, bdpy's layout)"
TREE_OPTIONS = ["subjects", "rois", "decoders", "feature_scaling", "feature_std", "match", "input_bound"]


def reconstruct_by_optimisation(
    inputs: torch.Tensor, layer: str, encoder: str, device: str, iterations: int, seed: int = 0, batch_size: int = 64,
) -> torch.Tensor:
    """Mahendran & Vedaldi for the inputs, ``batch_size`` at a time, with a progress bar on stderr."""
    import torch

    from ..devices import resolve_device
    from ..encoders import load_encoder
    from ..evaluation.optimize import MahendranVedaldi, OptimizeConfig

    network = load_encoder(encoder, device=resolve_device(device))
    optimizer = MahendranVedaldi(network, layer, OptimizeConfig(seed=seed).scaled(iterations))
    chunks = inputs.split(batch_size)
    with progress_bar() as progress:
        task = progress.add_task("optimize", total=iterations * len(chunks))
        done = [optimizer.invert(chunk, on_iteration=lambda step, total, k=k: progress.update(task, completed=k * iterations + step)).cpu()
                for k, chunk in enumerate(chunks)]
    return torch.cat(done)


def invert(
    ctx: typer.Context,
    images: list[str] | None = typer.Argument(
        None, metavar="IMAGE...", show_default=False, help="Images to reconstruct: files (any format Pillow reads), folders (recursively) or - (stdin).",
    ),
    features: Path | None = typer.Option(
        None, "--features", metavar="PATH", show_default=False,
        help="Reconstruct from features instead of images: a .npy or .safetensors file of one row per image, of the --weights "
        "generator's layer (README, 'Features in and out'; the encoder's weights are not needed), or a folder: a bdpy feature tree "
        "of .mat files, one per image and layer (README, 'Features decoded from the brain').",
    ),
    layer: str | None = LAYER,
    weights: str | None = WEIGHTS,
    method: InvertMethod = typer.Option(
        "generator", "--method",
        help="generator: a trained DeePSiM generator; optimize: Mahendran & Vedaldi; icnn: the generator's input optimised to match a tree's "
        "features at many layers (Shen et al. 2019; --features ROOT only).",
    ),
    iterations: int = typer.Option(OPTIMIZE_ITERATIONS, "--iterations", metavar="N", help="Iterations of --method optimize (its schedule is scaled)."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seeds --method optimize's start image: same seed, same device, same image."),
    batch_size: int = typer.Option(64, "--batch-size", "-b", metavar="N", help="Images per forward pass (memory: lower it for a large folder)."),
    out: Path | None = out_option(
        None, "Output image (one input; the suffix picks the format: .png, .jpg, .jpeg, .webp) or folder "
        "[default: NAME.LAYER.png here; NAME.vae.png for a VAE, .autoencoder.png; FEATURES-ROW.LAYER.png for --features].",
    ),
    side_by_side: bool = flag(False, "--side-by-side", help="Write input and reconstruction next to each other, labelled."),
    json_path: Path | None = json_option("each input, its output file and the settings"),
    encoder: str | None = ENCODER,
    device: str = DEVICE,
    precision: Precision = PRECISION,
    subjects: list[str] = typer.Option([], "--subject", metavar="NAME", help="A tree's subject to reconstruct (repeatable) [default: all].", rich_help_panel=TREE),
    rois: list[str] = typer.Option([], "--roi", metavar="NAME", help="A tree's ROI to reconstruct (repeatable) [default: all].", rich_help_panel=TREE),
    decoders: Path | None = typer.Option(
        None, "--decoders", metavar="DIR", help="The decoders' tree (its model/y_mean.mat file per layer, subject and ROI): NaN features become the training mean.",
        rich_help_panel=TREE,
    ),
    feature_scaling: FeatureScaling = typer.Option(
        "none", "--feature-scaling", metavar="SCALING", rich_help_panel=TREE,
        help="Scale features as the cookbook does (README gives the formulas): none, feature_std, or "
        "feature_std_train_mean_center (needs --decoders).",
    ),
    feature_std: Path | None = typer.Option(
        None, "--feature-std", metavar="FILE", help="A .mat of each layer's per-channel SD of true features (invertnet features --stats writes one).",
        rich_help_panel=TREE,
    ),
    match: str | None = typer.Option(
        None, "--match", metavar="L,...", help="--method icnn: the tree's layers to match [default: all the tree and --encoder share].", rich_help_panel=TREE,
    ),
    input_bound: Path | None = typer.Option(
        None, "--input-bound", metavar="FILE", help="--method icnn: upper bounds of the generator's input (the lab's act_range file) [default: none].",
        rich_help_panel=TREE,
    ),
) -> None:
    """Reconstruct each image from its features at LAYER (or through a VAE or autoencoder), or each row of --features, as an image."""
    if features is not None and not features.exists() and features.suffix == "":
        raise InvertnetError(f"--features {features}: no such folder (a feature tree) or file (.npy, .safetensors)")
    if features is not None and features.is_dir():
        if images:
            raise InvertnetError("give images or --features, not both")
        refuse(ctx, ["side_by_side", "batch_size", "precision"], "to a feature tree (one image at a time, fp32, as the cookbook runs them)")
        if method == "optimize":
            raise InvertnetError("--method optimize reconstructs images; a feature tree takes --method generator (FG) or icnn")
        if layer is None or weights is None:
            raise InvertnetError("a feature tree needs --layer (the generator's layer in the tree's names: relu7, relu6, pool5...) and --weights")
        if method == "generator":
            refuse(ctx, ["iterations", "seed"], "to --method generator (they set --method icnn's iterations and start)")
        from .tree import TreeRequest, invert_tree

        invert_tree(TreeRequest(
            features, layer, weights, method, out or Path("."), list(subjects), list(rois), feature_scaling, feature_std, decoders, encoder,
            [name.strip() for name in match.split(",") if name.strip()] if match else [], iterations if given(ctx, "iterations") else ICNN_ITERATIONS,
            seed, input_bound, device, json_path,
        ))
        return
    refuse(ctx, TREE_OPTIONS, "here: they apply to a feature tree (--features ROOT, a folder)")
    if method == "icnn":
        raise InvertnetError("--method icnn reconstructs a feature tree: give --features ROOT (a folder of bdpy's .mat files)")
    if features is not None:
        if images:
            raise InvertnetError("give images or --features, not both")
        refuse(ctx, ["method", "iterations", "seed", "side_by_side", "encoder", "layer"],
               "to --features: the rows are reconstructed by the --weights generator, at its own layer, without an encoder")
        if not 1 <= batch_size <= MAX_BATCH:
            raise InvertnetError(f"--batch-size must be between 1 and {MAX_BATCH:,}, got {batch_size}")
        _invert_features(features, weights, out, json_path, device, precision, batch_size)
        return
    if not images:
        raise typer.BadParameter("give images to reconstruct, or --features PATH", param_hint="'IMAGE...'")
    if method == "optimize":
        refuse(ctx, ["weights", "precision"], "to --method optimize, which uses no generator")
        if layer is None:
            raise InvertnetError("--method optimize needs --layer")
    else:
        refuse(ctx, ["iterations", "seed"], "to --method generator (they set --method optimize's iterations and start)")
    if iterations < 1:
        raise InvertnetError(f"--iterations must be a positive integer, got {iterations}")
    check_seed(seed)
    if not 1 <= batch_size <= MAX_BATCH:
        raise InvertnetError(f"--batch-size must be between 1 and {MAX_BATCH:,}, got {batch_size}")
    single_file = _single_file(out)
    check_results_file("--json", json_path, ".json")
    inputs = list_inputs(images)
    if single_file and len(inputs) > 1:
        raise InvertnetError(f"--out {out} names one file, but {len(inputs)} images were given: pass a folder")
    suffix = f"{output_tag(weights, layer, encoder)}.png" if method == "generator" else f"{layer}.optimize.png"
    targets = [out] if single_file else [output_folder(out) / f"{item.name}.{suffix}" for item in inputs]
    check_outputs([item.path for item in inputs if str(item.path) != STDIN], targets, weights)  # type: ignore[misc]
    pictures = read(inputs)
    recon, inputs_cropped, what, facts = _reconstruct(pictures, method, layer, weights, encoder, device, precision, iterations, seed, batch_size)
    written = []
    for target, image, reconstruction in zip(targets, inputs_cropped, recon):
        picture = _side_by_side(image, reconstruction, what) if side_by_side else reconstruction
        written.append(_save(picture, target, str(json_path) == "-"))  # type: ignore[arg-type]
    if json_path is not None:
        _write_json(json_path, [str(item.path) for item in inputs], written, facts)


def _single_file(out: Path | None) -> bool:
    """Whether ``--out`` names one image file (checked) rather than a folder."""
    if out is None or out.suffix == "":
        return False
    check_image_output("--out", out)
    return True


def _invert_features(
    features: Path, weights: str | None, out: Path | None, json_path: Path | None, device: str, precision: str, batch_size: int,
) -> None:
    """``invert --features``: one image per row, through the generator alone."""
    from ..files.features import PLAIN_NAME, read_features
    from ..inversion import Inverter

    if weights is None:
        raise InvertnetError("--features needs --weights: the generator trained for the layer the features come from")
    single_file = _single_file(out)
    check_results_file("--json", json_path, ".json")
    rows = read_features(features)
    count = rows.values.shape[0]
    if single_file and count > 1:
        raise InvertnetError(f"--out {out} names one file, but {features} holds {count} rows: pass a folder")
    inverter = Inverter.load_generator(weights, device=device, precision=precision)
    expected = inverter.generator.feature_shape
    if tuple(rows.values.shape[1:]) != tuple(expected):
        shown = "x".join(map(str, rows.values.shape[1:]))
        raise InvertnetError(f"{features} holds rows of {shown}; the {inverter.layer} generator {inverter.source} takes {'x'.join(map(str, expected))}")
    if rows.layer and rows.layer != inverter.layer:
        raise InvertnetError(f"{features} holds {rows.layer} features; {inverter.source} inverts {inverter.layer}")
    names = [name if PLAIN_NAME.fullmatch(name) else f"{features.stem}-{i:04d}" for i, name in enumerate(rows.names)] or [
        f"{features.stem}-{i:04d}" for i in range(count)
    ]
    targets = [out] if single_file else [output_folder(out) / f"{name}.{inverter.layer}.png" for name in names]
    check_outputs([features], targets, weights)  # type: ignore[misc]
    with progress_bar() as progress:
        task = progress.add_task("invert", total=count)
        written = []
        for start in range(0, count, batch_size):
            recon = inverter.generate(rows.values[start : start + batch_size]).cpu()
            for target, picture in zip(targets[start : start + batch_size], recon):
                written.append(_save(picture, target, str(json_path) == "-"))  # type: ignore[arg-type]
            progress.update(task, completed=min(count, start + batch_size))
    if json_path is not None:
        _write_json(json_path, [f"{features}[{i}]" for i in range(count)], written, generator_facts(inverter))


def _reconstruct(
    pictures: list[torch.Tensor], method: str, layer: str | None, weights: str | None, encoder: str | None, device: str, precision: str, iterations: int,
    seed: int, batch_size: int,
) -> tuple[torch.Tensor, torch.Tensor, str, dict[str, object]]:
    """The reconstructions, the inputs as cropped for the encoder, a label for what made them, and the facts ``--json`` records."""
    from ..devices import resolve_device
    from ..encoders import input_size
    from ..inversion import Inverter

    if method == "optimize":
        spec = encoder or "imagenet"
        inputs = crop_inputs(pictures, input_size(spec))
        facts = {"method": "optimize", "model": None, "layer": layer, "weights": None, "encoder": spec,
                 "settings": {"iterations": iterations, "seed": seed, "precision": "fp32", "device": str(resolve_device(device))}}
        recon = reconstruct_by_optimisation(inputs, str(layer), spec, device, iterations, seed, batch_size)
        return recon, inputs, f"from {layer} features, optimisation ({iterations} iterations)", facts
    inverter = Inverter.load(layer, weights, encoder=encoder, device=device, precision=precision)
    inputs = crop_inputs(pictures, inverter.input_size)
    if inverter.model == "inverter":
        what = f"from {inverter.layer} features, generator {inverter.label}"
    else:
        what = f"through the {inverter.model} {inverter.label}"
    return inverter.invert(inputs, batch_size).cpu(), inputs, what, generator_facts(inverter)


def _side_by_side(image: torch.Tensor, reconstruction: torch.Tensor, what: str) -> torch.Tensor:
    """Input and reconstruction next to each other, each labelled."""
    import torch

    from ..data.captions import labelled_rows

    return labelled_rows([("", torch.stack([image, reconstruction]))], columns=["input", f"reconstruction {what}"])


def _save(picture: torch.Tensor, target: Path, to_stderr: bool) -> Path:
    """Write one result and say where (on stderr when stdout carries the JSON)."""
    from ..data.imageio import save_image

    path = save_image(picture, target)
    if to_stderr:
        stderr.print(str(path), highlight=False, soft_wrap=True)
    else:
        announce(path)
    return path


def _write_json(path: Path, inputs: list[str], written: list[Path], facts: dict[str, object]) -> None:
    write_json_record(path, versioned("invert", {**facts, "images": [{"input": item, "output": str(out)} for item, out in zip(inputs, written)]}))


def register(app: typer.Typer) -> None:
    app.command("invert", short_help="Reconstruct images from their features at a layer.")(plain(invert))

