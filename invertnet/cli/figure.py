"""``invertnet figure layers|methods``: the paper's Fig. 3 and Fig. 4 for your images."""

from __future__ import annotations

from pathlib import Path

import typer

from ..data.imageio import save_image
from ..devices import resolve_device
from ..encoders import load_encoder
from ..errors import InvertnetError
from ..evaluation.figures import layers_figure, methods_figure
from ..evaluation.optimize import OptimizeConfig
from ..evaluation.protocol import Method, generator_method, optimize_method
from ..inversion import Inverter
from ..weights.registry import expand_deepsim
from .common import ALEXNET, DEVICE, announce, check_outputs, crop_inputs, encoder_spec, read_inputs, refuse

figure_app = typer.Typer(help="The paper's comparison figures (PNG).", no_args_is_help=True)


@figure_app.command("layers")
def layers(
    images: list[Path] = typer.Argument(..., help="Input images (a column each)."),
    weights: list[str] = typer.Option(
        ..., "--weights", "-w",
        help="A generator per layer (each file records its layer); repeat. deepsim: the authors' of every layer, norm1 to fc8.",
    ),
    out: Path = typer.Option(Path("fig3.png"), "--out", "-o", help="Output PNG."),
    alexnet: str | None = ALEXNET,
    device: str = DEVICE,
) -> None:
    """Fig. 3: the inputs, then their reconstructions from each layer's generator."""
    weights = expand_deepsim(weights)
    check_outputs(images, [out], weights)
    pictures = read_inputs(images)
    network = load_encoder(encoder_spec(alexnet, weights[0], None), device=resolve_device(device))
    inputs = crop_inputs(pictures, network.input_size)
    inverters = [Inverter.load(None, path, alexnet=network, device=network.mean.device) for path in weights]
    for inverter in inverters:
        if inverter.model != "inverter":
            raise InvertnetError(f"figure layers shows one generator per encoder layer; {inverter.source} is a {inverter.model}: compare it with `invertnet eval`")
    layers_seen = [inverter.layer for inverter in inverters]
    if len(set(layers_seen)) != len(layers_seen):
        raise InvertnetError(f"figure layers takes one generator per layer, got layers {', '.join(layers_seen)}")
    announce(save_image(layers_figure(inputs.to(network.mean.device), inverters), out))


@figure_app.command("methods")
def methods(
    ctx: typer.Context,
    images: list[Path] = typer.Argument(..., help="Input images (a column each)."),
    layer: str = typer.Option(..., "--layer", "-l", help="The layer every method inverts."),
    weights: list[str] | None = typer.Option(None, "--weights", "-w", help="A generator for LAYER; repeat to compare several."),
    optimize: bool = typer.Option(False, "--optimize", help="Add a row for Mahendran & Vedaldi's optimisation."),
    iterations: int = typer.Option(OptimizeConfig().iterations, "--iterations", help="Iterations of the optimisation."),
    out: Path = typer.Option(Path("fig4.png"), "--out", "-o", help="Output PNG."),
    alexnet: str | None = ALEXNET,
    device: str = DEVICE,
) -> None:
    """Fig. 4: the inputs, then their reconstructions by each generator (and the optimisation)."""
    if not weights and not optimize:
        raise InvertnetError("figure methods needs --weights and/or --optimize")
    if not optimize:
        refuse(ctx, ["iterations"], "without --optimize")
    check_outputs(images, [out], weights)
    pictures = read_inputs(images)
    spec = alexnet or (encoder_spec(None, weights[0], layer) if weights else "imagenet")
    network = load_encoder(spec, device=resolve_device(device))
    inputs = crop_inputs(pictures, network.input_size)
    rows: list[Method] = [generator_method(Inverter.load(layer, path, alexnet=network, device=network.mean.device)) for path in weights or []]
    if optimize:
        rows.append(optimize_method(network, layer, OptimizeConfig().scaled(iterations)))
    announce(save_image(methods_figure(inputs.to(network.mean.device), rows, network), out))


def register(app: typer.Typer) -> None:
    app.add_typer(figure_app, name="figure")
