"""The command line's vocabulary: the options several subcommands share, and their allowed values as choices.

Nothing here imports torch: ``--help``, ``--version`` and argument errors are answered without it. A flag
name means one thing in every subcommand (README, "The command line's vocabulary"); choices are enums so
that help and shell completion list them, and :func:`plain` hands the commands plain strings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import typer

from ..names import (
    AUTHORS_NAMES,
    COMPARATORS,
    CROP_NAMES,
    DEEPSIM,
    DEVICE_HELP,
    FORMATS,
    GATES,
    IMAGE_LOSSES,
    LAYERS,
    LOGS,
    LOSS_PRESETS,
    MODEL_KINDS,
    PRECISIONS,
    PRESETS,
    SOURCE_NAMES,
    SPEC_HELP,
    SPLITS,
    TRAINABLE_LAYERS,
)


def choices(name: str, values: Iterable[str]) -> type[Enum]:
    """An enum of the allowed ``values``, which Typer lists in help and completion and checks on parsing."""
    return Enum(name, {value: value for value in values}, type=str)  # type: ignore[return-value]


Layer = choices("Layer", LAYERS)
TrainableLayer = choices("TrainableLayer", TRAINABLE_LAYERS)
TrainLog = choices("TrainLog", LOGS)
Precision = choices("Precision", PRECISIONS)
Crops = choices("Crops", CROP_NAMES)
Split = choices("Split", SPLITS)
ModelKind = choices("ModelKind", MODEL_KINDS)
LossPreset = choices("LossPreset", LOSS_PRESETS)
Comparator = choices("Comparator", COMPARATORS)
ImageLoss = choices("ImageLoss", IMAGE_LOSSES)
GateRule = choices("GateRule", GATES)
Preset = choices("Preset", PRESETS)
Source = choices("Source", SOURCE_NAMES)
Format = choices("Format", FORMATS)
AUTHORS = ", ".join(DEEPSIM + name for name in AUTHORS_NAMES)

F = TypeVar("F", bound=Callable[..., Any])


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def plain(command: F) -> F:
    """``command`` called with each choice as its plain string (``"fp32"``, not ``Precision.fp32``)."""

    @functools.wraps(command)
    def call(*args: Any, **kwargs: Any) -> Any:
        return command(*args, **{name: _plain(value) for name, value in kwargs.items()})

    return call  # type: ignore[return-value]


def flag(default: bool, *names: str, **kwargs: Any) -> Any:
    """A boolean switch, shown without a type (there is no value to give)."""
    return typer.Option(default, *names, metavar="", **kwargs)


def json_option(what: str, **kwargs: Any) -> Any:
    """``--json PATH|-``: the same in every command (``-``: stdout, alone, with the table on stderr)."""
    return typer.Option(None, "--json", metavar="PATH|-", help=f"Write {what} as JSON to PATH (a .json file), or '-' for stdout.", **kwargs)


def csv_option(what: str, **kwargs: Any) -> Any:
    """``--csv PATH|-``: the same in every command."""
    return typer.Option(None, "--csv", metavar="PATH|-", help=f"Write {what} as CSV to PATH (a .csv file), or '-' for stdout.", **kwargs)


LAYER_HELP = (
    "Layer to invert, one of the encoder's (invertnet layers SPEC lists them): for AlexNet conv5, fc6, fc7, fc8 (logits) or prob "
    "(their softmax); with CaffeNet also norm1, norm2, conv3, conv4"
)


def complete_layer(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of ``--layer``: the layers of the ``--encoder`` given on the line (AlexNet's and CaffeNet's without one)."""
    spec = ctx.params.get("encoder")
    names: list[str] = list(LAYERS)
    if spec:
        try:
            from ..encoders import layer_shapes

            names = list(layer_shapes(spec))
        except Exception:  # noqa: BLE001 - an unknown or half-typed spec: complete with the paper's layers
            pass
    return [name for name in names if name.startswith(incomplete)]


def layer_option(default: Any = None, help: str = LAYER_HELP + " [default: the --weights file's own].", **kwargs: Any) -> Any:
    """``--layer LAYER``: a layer of the encoder, completed from the encoder's layers."""
    return typer.Option(default, "--layer", "-l", metavar="LAYER", show_default=False, help=help, autocompletion=complete_layer, **kwargs)


LAYER = layer_option()
COMPARATOR_HELP = (
    "Feature-loss comparator: a LAYER of the encoder, random-LAYER (that layer with random weights, Fig. 6) or none "
    "[default: the encoder's: conv5 for AlexNet and CaffeNet, invertnet layers SPEC marks it]."
)
WEIGHTS = typer.Option(
    None, "--weights", "-w", metavar="WEIGHTS",
    help="Generator (or VAE, or autoencoder): a .safetensors file, a run folder, deepsim:NAME (the authors', downloaded once: "
    "norm1, norm2, conv3, conv4, conv5, fc6, fc6_eucl, fc7, fc8, prob) or deepsim (the authors' for --layer) "
    "[default: LAYER.safetensors in $INVERTNET_WEIGHTS, then in the user cache, then the authors' if cached].",
)


def encoder_option(default: str | None = None, panel: str | None = None) -> Any:
    """``--encoder SPEC``: the encoder (default None: the one the generator was trained against)."""
    extra = "" if default is not None else " [default: the one the generator was trained against]."
    return typer.Option(default, "--encoder", metavar="SPEC", show_default=default is not None, help=SPEC_HELP + extra, rich_help_panel=panel)


def device_option(panel: str | None = None) -> Any:
    """``--device DEVICE``: auto, cpu, cuda or cuda:N."""
    return typer.Option("auto", "--device", metavar="DEVICE", help=DEVICE_HELP, rich_help_panel=panel)


ENCODER = encoder_option()
TRAIN_ENCODER = encoder_option("imagenet")
DEVICE = device_option()
PRECISION = typer.Option(
    "auto", "--precision", help="bf16: autocast and channels_last, for throughput on a GPU; fp32; auto: bf16 on CUDA, else fp32.",
)
OUT_FILE = "Output image; its suffix picks the format: .png (lossless), .jpg/.jpeg or .webp"


def out_option(default: Path | None, what: str, **kwargs: Any) -> Any:
    """``--out/-o``: where a command writes its result."""
    return typer.Option(default, "--out", "-o", metavar="PATH", help=what, **kwargs)
