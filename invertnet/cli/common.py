"""Helpers shared by the subcommands: what was given, outputs checked before work, inputs read, results announced.

Modules that need torch are imported inside the helpers that use them (see :mod:`invertnet.cli.options`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from ..errors import InvertnetError
from ..files.atomic import check_not_input, check_writable
from ..names import MAX_SEED, STILL_SUFFIXES

if TYPE_CHECKING:
    import torch

    from ..inversion import Inverter

stderr = Console(stderr=True)


def stdout_console(to_stderr: bool = False) -> Console:
    """Results on stdout (or stderr, when stdout carries JSON or CSV): at the terminal's width; for a file or a pipe, at
    ``COLUMNS`` if set, else wide enough for the tables."""
    console = Console(stderr=to_stderr)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")  # off a terminal, a width the user sets is honoured; else wide enough for the tables
    return Console(stderr=to_stderr, width=int(columns) if columns.isdigit() and 40 <= int(columns) <= 1000 else 220)


def given(ctx: typer.Context, *names: str) -> list[str]:
    """The options among ``names`` (parameter names) that the command line set, as their flags."""
    flags = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name) if param.name in names else None
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            flags.append(param.opts[0])
    return flags


def check_seed(seed: int) -> None:
    """Refuse a ``--seed`` outside 0 to :data:`MAX_SEED` (every command's seeds are drawn the same way)."""
    if not 0 <= seed <= MAX_SEED:
        raise InvertnetError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed}")


def refuse(ctx: typer.Context, names: list[str], why: str) -> None:
    """Stop with one clear error if the user gave any of these options, which would be ignored ``why``."""
    flags = given(ctx, *names)
    if flags:
        raise InvertnetError(f"{', '.join(flags)} {'does' if len(flags) == 1 else 'do'} not apply {why}")


def check_outputs(inputs: list[Path], outputs: list[Path], weights: str | list[str] | None = None) -> None:
    """Refuse to write over an input (an image, or a ``--weights`` file), or to write two results to one file (nothing may be lost)."""
    named = [weights] if isinstance(weights, str) else weights or []
    sources = [*inputs, *(Path(name) for name in named if Path(name).is_file())]
    targets: dict[str, Path] = {}
    for target in outputs:
        check_not_input(target, sources)
        real = os.path.realpath(target)
        if real in targets:
            raise InvertnetError(f"two results would be written to {target} (inputs with the same name?): pass them in separate runs or rename one")
        check_writable(target)
        targets[real] = target


def check_results_file(flag: str, path: Path | None, suffix: str) -> None:
    """A results file must be named for what it holds (``--json r.json``), so a typo cannot write over an image,
    and be writable, checked before the work that fills it."""
    if path is None or str(path) == "-":
        return
    if path.suffix.lower() != suffix:
        raise InvertnetError(f"{flag} {path}: the file name must end in {suffix}")
    check_writable(path, flag=flag)


def output_folder(out: Path | None) -> Path:
    """``--out`` as a folder for several results (the current folder by default); refuse an existing file."""
    folder = out or Path(".")
    if folder.exists() and not folder.is_dir():
        raise InvertnetError(f"--out {folder} exists and is not a folder: name a folder for several images, or a .png for one")
    check_writable(folder, folder=True, flag="--out")
    return folder


def read_inputs(paths: list[Path]) -> list[torch.Tensor]:
    """Read every image named on the command line before any work starts (a bad one is an error now, not after a download)."""
    from ..data.imageio import load_image

    return [load_image(path) for path in paths]


def crop_inputs(images: list[torch.Tensor], size: int) -> torch.Tensor:
    """The encoder's center crops (``size``: 224 or 227) of images read by :func:`read_inputs`."""
    import torch

    from ..data.datasets import eval_crop

    return torch.stack([eval_crop(image, size) for image in images])


def encoder_spec(encoder: str | None, weights: str | None, layer: str | None) -> str:
    """``--encoder`` if given, else the encoder the generator ``weights`` (or the default for ``layer``) was trained against."""
    from ..inversion import trained_against

    return encoder if encoder is not None else trained_against(weights, layer)


def output_tag(weights: str | None, layer: str | None, encoder: str | None = None) -> str:
    """What names the files of a run command: the layer inverted, or ``vae`` / ``autoencoder``."""
    from ..inversion import weights_model
    from ..names import INVERTER

    found, model = weights_model(weights, layer, encoder)
    return found if model == INVERTER else model


def write_json_record(path: Path, record: dict[str, object]) -> None:
    """``record`` as JSON to ``path`` (atomically, then announced) or to stdout for ``-``; NaN and infinities are refused."""
    import json

    from ..files.atomic import atomic_path

    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    if str(path) == "-":
        print(text, end="")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    announce(path)


def generator_facts(inverter: Inverter) -> dict[str, object]:
    """What a command's ``--json`` records of the generator it ran (docs/outputs.md)."""
    return {"method": "generator", "model": inverter.model, "layer": inverter.layer, "weights": inverter.source,
            "encoder": inverter.encoder.identity if inverter.encoder is not None else None,
            "settings": {"iterations": None, "seed": None, "precision": inverter.precision.name, "device": str(inverter.device)}}


def announce(path: Path, json_path: Path | None = None) -> None:
    """Results (written files) go to stdout, one per line; to stderr when ``json_path`` is ``-`` (stdout is then the JSON alone)."""
    if json_path is not None and str(json_path) == "-":
        stderr.print(str(path), highlight=False, soft_wrap=True)
    else:
        print(path)


def check_image_output(flag: str, path: Path, animation: bool = False) -> None:
    """An image is written in the format its suffix names: refuse one no command writes (``.gif`` only for animations)."""
    suffix = path.suffix.lower()
    allowed = (*STILL_SUFFIXES, ".gif") if animation else STILL_SUFFIXES
    if suffix not in allowed:
        extra = "; .gif writes the frames as an animation" if animation else ""
        raise InvertnetError(f"{flag} {path}: name a {', '.join(allowed)} file (the suffix picks the format){extra}")
