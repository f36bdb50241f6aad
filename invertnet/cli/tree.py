"""``invertnet invert --features ROOT``: reconstruct a bdpy feature tree (brain-decoded or true features), FG or iCNN.

The KamitaniLab cookbook's two methods (README, "Features decoded from the brain"): ``--method generator``
(FG: the features at ``--layer`` straight through the generator) and ``--method icnn`` (the generator's
input optimised so an encoder's features of its image match the tree's at every ``--match`` layer).
``--layer`` and ``--match`` take the tree's names (bdpy's ``layer_map``: relu7 is invertnet's fc7).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvertnetError
from ..version import versioned
from .common import announce, check_results_file, check_seed, stderr, write_json_record
from .progress import progress_bar

if TYPE_CHECKING:
    import torch

    from ..decoded.generators import TreeGenerator
    from ..decoded.inputs import Image, Scaler
    from ..encoders import Encoder
    from ..files.feature_tree import FeatureTree


@dataclass(frozen=True)
class TreeRequest:
    """What ``invert --features ROOT`` was asked, checked by the command before any file is read."""

    root: Path
    layer: str
    weights: str
    method: str
    out: Path
    subjects: list[str]
    rois: list[str]
    scaling: str
    feature_std: Path | None
    decoders: Path | None
    encoder: str | None
    match: list[str]
    iterations: int
    seed: int
    input_bound: Path | None
    device: str
    json_path: Path | None


MAX_BOUND_BYTES = 1 << 20


def check_request(request: TreeRequest) -> None:
    """Refuse, before anything is read, a request that cannot run (the options' combinations)."""
    if request.out.exists() and not request.out.is_dir():
        raise InvertnetError(f"--out {request.out}: a tree's reconstructions go to a folder (OUT/SUBJECT/ROI/LABEL.png), not a file")
    if request.method == "icnn" and request.encoder is None:
        raise InvertnetError("--method icnn needs --encoder SPEC, the network whose features the tree holds (vgg19_caffe:PATH, caffenet...)")
    if request.method == "generator":
        wrong = [flag for flag, value in (("--encoder", request.encoder), ("--match", request.match or None), ("--input-bound", request.input_bound)) if value]
        if wrong:
            raise InvertnetError(f"{', '.join(wrong)} apply to --method icnn; the generator method runs the generator alone, without an encoder")
    if request.iterations < 1:
        raise InvertnetError(f"--iterations must be a positive integer, got {request.iterations}")
    check_seed(request.seed)
    check_results_file("--json", request.json_path, ".json")


def read_bound(path: Path, size: int) -> torch.Tensor:
    """An act_range file: ``size`` upper bounds of the generator's input, numbers separated by spaces or lines (the lab's ``act_range/3x/relu7.txt``)."""
    import math

    import torch

    from ..files.guarded import read_text_input

    text = read_text_input(path, "--input-bound file", max_bytes=MAX_BOUND_BYTES)
    try:
        values = [float(word) for word in text.split()]
    except ValueError as error:
        raise InvertnetError(f"--input-bound {path}: not a list of numbers ({error})") from None
    if len(values) < size:
        raise InvertnetError(f"--input-bound {path} holds {len(values)} numbers; the generator takes {size}")
    values = values[:size]  # the lab's script reads the first 4096 columns (np.loadtxt usecols)
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise InvertnetError(f"--input-bound {path}: every bound must be a finite number >= 0")
    return torch.tensor(values)


def invert_tree(request: TreeRequest) -> None:
    """Run ``invert --features ROOT`` (see the module)."""
    import torch

    from ..decoded.generators import check_size, load_tree_generator
    from ..decoded.inputs import Scaler, tree_images
    from ..devices import resolve_device
    from ..files.feature_tree import open_tree

    check_request(request)
    tree = open_tree(request.root)
    scaler = Scaler(request.scaling, request.feature_std, request.decoders)
    device = resolve_device(request.device)
    if request.method == "generator":
        tree.check_layer(request.layer)
        layers = [request.layer]
    else:
        encoder, layers = _icnn_encoder(request, tree, device)
    scaler.check(tree, layers)
    images = tree_images(tree, layers, request.subjects or None, request.rois or None)
    generator = load_tree_generator(request.weights, request.layer, device)
    check_size(generator)
    stderr.print(f"{len(images)} images of {tree.root} ({'decoded' if tree.decoded else 'true'} features), "
                 f"{request.method} from {', '.join(layers) if len(layers) < 6 else f'{len(layers)} layers'}", highlight=False)
    if request.method == "generator":
        from ..decoded.fg import reconstruct_fg

        with progress_bar() as progress:
            task = progress.add_task("FG", total=len(images))
            outcome = reconstruct_fg(images, request.layer, generator, scaler, request.out, lambda done: progress.update(task, completed=done))
        written, skipped, warnings = outcome.written, outcome.skipped, outcome.warnings
    else:
        bound = read_bound(request.input_bound, generator.feature_shape[0]) if request.input_bound else None
        written, skipped, warnings = _run_icnn(request, images, layers, generator, encoder, scaler, bound, torch.device(device))
    for warning in warnings:
        stderr.print(f"invertnet: warning: {warning}", highlight=False, soft_wrap=True)
    for path in written:
        announce(path, request.json_path)
    if skipped:
        stderr.print(f"{len(skipped)} already there, skipped (delete them to redo)", highlight=False)
    if request.json_path is not None:
        _write_json(request, images, layers, generator, skipped)


def _icnn_encoder(request: TreeRequest, tree: FeatureTree, device: torch.device | str) -> tuple[Encoder, list[str]]:
    """The encoder and the layers to match: ``--match``, or every layer the tree and the encoder share, in the network's order."""
    from ..encoders import load_encoder
    from ..encoders.tree_taps import check_tree_layer, tree_layers

    encoder = load_encoder(str(request.encoder), device=device)
    if request.match:
        for layer in request.match:
            tree.check_layer(layer)
            check_tree_layer(encoder, layer)
        order = tree_layers(encoder)
        return encoder, sorted(dict.fromkeys(request.match), key=order.index)
    shared = [layer for layer in tree_layers(encoder) if layer in tree.layers]
    if not shared:
        raise InvertnetError(
            f"{tree.root} and the encoder {encoder.identity} share no layer (the tree's: {', '.join(tree.layers)}; "
            f"the encoder's: {', '.join(tree_layers(encoder))}): check --encoder, or name them with --match"
        )
    return encoder, shared


def _run_icnn(
    request: TreeRequest, images: list[Image], layers: list[str], generator: TreeGenerator, encoder: Encoder, scaler: Scaler,
    bound: torch.Tensor | None, device: torch.device,
) -> tuple[list[Path], list[Path], list[str]]:
    import torch

    from ..data.imageio import save_image
    from ..decoded.icnn import ICNNConfig, icnn
    from ..encoders.tree_taps import tree_features

    config = ICNNConfig(iterations=request.iterations)
    size = encoder.input_size
    if size > generator.generator.output_size:
        raise InvertnetError(f"the generator makes {generator.generator.output_size}x{generator.generator.output_size} images; the encoder takes {size}")
    initial = torch.randn(generator.feature_shape, generator=torch.Generator().manual_seed(request.seed)).to(device)
    with torch.no_grad():  # the layers' shapes under the tree's names, which a file's must have
        probe = tree_features(encoder, torch.zeros(1, 3, size, size, device=device), tuple(layers))
    shapes = {layer: tuple(value.shape[1:]) for layer, value in probe.items()}
    written, skipped = [], []
    with progress_bar() as progress:
        for image in images:
            target = image.output(request.out)
            if target.exists():
                skipped.append(target)
                continue
            goal = {layer: torch.from_numpy(scaler.features(image, layer, shapes[layer])) for layer in layers}
            task = progress.add_task(f"iCNN {image.group} {image.label}", total=config.iterations)
            picture, _, _ = icnn(
                goal, lambda z: generator.generator.full(z) / 255.0, lambda x: tree_features(encoder, x, tuple(layers)),
                initial, size, bound, config, on_iteration=lambda step, loss: progress.update(task, completed=step),
            )
            progress.remove_task(task)
            target.parent.mkdir(parents=True, exist_ok=True)
            written.append(save_image(picture.clamp(0, 1).cpu(), target))
    return written, skipped, []


def _write_json(request: TreeRequest, images: list[Image], layers: list[str], generator: TreeGenerator, skipped: list[Path]) -> None:
    done = {str(path) for path in skipped}
    record = {
        "method": request.method, "layer": request.layer, "generator_layer": generator.layer, "weights": generator.source,
        "encoder": request.encoder, "match": layers if request.method == "icnn" else None, "features": str(request.root),
        "settings": {
            "feature_scaling": request.scaling, "feature_std": str(request.feature_std) if request.feature_std else None,
            "decoders": str(request.decoders) if request.decoders else None,
            "iterations": request.iterations if request.method == "icnn" else None,
            "seed": request.seed if request.method == "icnn" else None,
            "input_bound": str(request.input_bound) if request.input_bound else None,
        },
        "images": [
            {"label": image.label, "subject": image.subject, "roi": image.roi, "input": str(image.files[layers[0]]),
             "output": str(image.output(request.out)), "skipped": str(image.output(request.out)) in done}
            for image in images
        ],
    }
    write_json_record(request.json_path, versioned("invert_tree", record))  # type: ignore[arg-type]
