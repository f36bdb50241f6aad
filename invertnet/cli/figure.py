"""``invertnet figure layers|methods``: the paper's Fig. 3 and Fig. 4 for your images."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InvertnetError
from ..names import OPTIMIZE_ITERATIONS
from .common import announce, check_image_output, check_outputs, crop_inputs, encoder_spec, read_inputs, refuse
from .options import DEVICE, ENCODER, choices, layer_option, out_option, plain

FigureMethod = choices("FigureMethod", ("generator", "optimize"))

figure_app = typer.Typer(help="The paper's comparison figures, labelled.", no_args_is_help=True, rich_markup_mode="markdown")


def layers(
    images: list[Path] = typer.Argument(..., metavar="IMAGE...", show_default=False, help="Input images (a column each)."),
    weights: list[str] = typer.Option(
        ..., "--weights", "-w", metavar="WEIGHTS",
        help="A generator per layer (each file records its layer); repeat. deepsim: the authors' of every layer, norm1 to fc8.",
    ),
    out: Path = out_option(Path("fig3.png"), "Output image; the suffix picks the format: .png, .jpg, .jpeg, .webp."),
    encoder: str | None = ENCODER,
    device: str = DEVICE,
) -> None:
    """Fig. 3: the inputs, then their reconstructions from each layer's generator."""
    from ..data.imageio import save_image
    from ..devices import resolve_device
    from ..encoders import load_encoder
    from ..evaluation.figures import layers_figure
    from ..inversion import ALSO_NEEDED, Inverter, weights_model
    from ..weights.registry import expand_deepsim

    weights = expand_deepsim(weights)
    check_image_output("--out", out)
    check_outputs(images, [out], weights)
    layers_seen, missing = [], []
    for path in weights:  # from the files' metadata, before any network is loaded; every one that cannot be had is named
        try:
            layers_seen.append(weights_model(path, None)[0])
        except InvertnetError as error:
            missing.append(error)
    if len(missing) == 1:
        raise missing[0]
    if missing:  # each model's sources, then once what they all need (CaffeNet)
        own: list[str] = []
        shared: list[str] = []
        for error in missing:
            lines = [error.message, *error.details]
            cut = next((i for i, line in enumerate(lines) if line.startswith(ALSO_NEEDED)), len(lines))
            own += lines[:cut]
            shared = shared or lines[cut:]
        raise InvertnetError(f"{len(missing)} of the {len(weights)} generators cannot be had:", [*own, *shared])
    if len(set(layers_seen)) != len(layers_seen):
        raise InvertnetError(f"figure layers takes one generator per layer, got layers {', '.join(layers_seen)}")
    pictures = read_inputs(images)
    network = load_encoder(encoder_spec(encoder, weights[0], None), device=resolve_device(device))
    inputs = crop_inputs(pictures, network.input_size)
    inverters = [Inverter.load(None, path, encoder=network, device=network.device) for path in weights]
    for inverter in inverters:
        if inverter.model != "inverter":
            raise InvertnetError(f"figure layers shows one generator per encoder layer; {inverter.source} is a {inverter.model}: compare it with `invertnet eval`")
    announce(save_image(layers_figure(inputs.to(network.device), inverters), out))


def methods(
    ctx: typer.Context,
    images: list[Path] = typer.Argument(..., metavar="IMAGE...", show_default=False, help="Input images (a column each)."),
    layer: str = layer_option(..., help="The layer every method inverts."),
    weights: list[str] | None = typer.Option(None, "--weights", "-w", metavar="WEIGHTS", show_default=False, help="A generator for LAYER; repeat to compare several."),
    method: list[FigureMethod] | None = typer.Option(  # type: ignore[valid-type]
        None, "--method", metavar="<generator|optimize>", show_default=False,
        help="generator: a row per --weights generator; optimize: a row for Mahendran & Vedaldi's optimisation; repeat for both "
        "[default: generator].",
    ),
    iterations: int = typer.Option(OPTIMIZE_ITERATIONS, "--iterations", metavar="N", help="Iterations of the optimisation."),
    out: Path = out_option(Path("fig4.png"), "Output image; the suffix picks the format: .png, .jpg, .jpeg, .webp."),
    encoder: str | None = ENCODER,
    device: str = DEVICE,
) -> None:
    """Fig. 4: the inputs, then their reconstructions by each generator (and the optimisation)."""
    from ..data.imageio import save_image
    from ..devices import resolve_device
    from ..encoders import load_encoder
    from ..evaluation.figures import methods_figure
    from ..evaluation.optimize import OptimizeConfig
    from ..evaluation.protocol import Method, generator_method, optimize_method
    from ..inversion import Inverter

    chosen = set(method or ["generator"])
    optimize = "optimize" in chosen
    if "generator" in chosen and not weights:
        raise InvertnetError("--method generator (the default) needs --weights: a generator for LAYER (or --method optimize alone)")
    if "generator" not in chosen:
        refuse(ctx, ["weights"], "without --method generator")
    if not optimize:
        refuse(ctx, ["iterations"], "without --method optimize")
    check_image_output("--out", out)
    check_outputs(images, [out], weights)
    pictures = read_inputs(images)
    spec = encoder or (encoder_spec(None, weights[0], layer) if weights else "imagenet")
    network = load_encoder(spec, device=resolve_device(device))
    inputs = crop_inputs(pictures, network.input_size)
    rows: list[Method] = [generator_method(Inverter.load(layer, path, encoder=network, device=network.device)) for path in weights or []]
    if optimize:
        rows.append(optimize_method(network, layer, OptimizeConfig().scaled(iterations)))
    announce(save_image(methods_figure(inputs.to(network.device), rows, network), out))


def register(app: typer.Typer) -> None:
    figure_app.command("layers", short_help="Fig. 3: reconstructions from each layer, a row per layer.")(plain(layers))
    figure_app.command("methods", short_help="Fig. 4: reconstructions by each method, a row per method.")(plain(methods))
    app.add_typer(figure_app, name="figure", short_help="The paper's comparison figures (Fig. 3 and 4), labelled.")
