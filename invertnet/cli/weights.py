"""``invertnet weights list|fetch|import``: the authors' generators, CaffeNet, and what is on this machine.

    invertnet weights fetch deepsim:fc7          # the authors' fc7 generator and CaffeNet, once
    invertnet weights import release_deepsim_v0.zip --layer fc6
    invertnet weights import upconvGAN_fc6.pt --layer fc6 --format upconvgan
    invertnet weights list
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..encoders import CAFFENET, caffenet_cache_path, load_encoder
from ..errors import InvertnetError
from ..inversion import weights_dir
from ..weights import DEEPSIM, FORMATS, deepsim_layer, fetch_deepsim, import_weights, is_deepsim, known_weights
from .common import announce, stdout_console

weights_app = typer.Typer(help="The authors' generators and CaffeNet: list, fetch (download once), import (convert a file you have).", no_args_is_help=True)


@weights_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """Known generators and encoders, whether each is on this machine, and where it came from (with its hash)."""
    rows = known_weights(weights_dir())
    if as_json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    view = Table(title="Weights (cache: torch.hub's checkpoints folder, which follows TORCH_HOME)", title_justify="left")
    for column in ("name", "kind", "encoder", "here", "path", "hash", "source"):
        view.add_column(column, overflow="fold")
    for row in rows:
        view.add_row(row.name, row.kind, row.encoder, "yes" if row.cached else "no", row.path, row.sha256[:23], row.source)
    stdout_console().print(view)


@weights_app.command("fetch")
def fetch(names: list[str] = typer.Argument(..., help="deepsim:LAYER (with CaffeNet, which it needs) or caffenet.")) -> None:
    """Download and convert once: afterwards these weights work offline."""
    for name in names:
        if name != CAFFENET and not is_deepsim(name):
            raise InvertnetError(f"cannot fetch {name!r}: name deepsim:LAYER (conv5, fc6, fc7, fc8, prob) or caffenet")
        if is_deepsim(name):
            deepsim_layer(name)
    for name in dict.fromkeys(names):
        if is_deepsim(name):
            announce(fetch_deepsim(deepsim_layer(name)))
    load_encoder(CAFFENET)  # what every authors' generator is run with: downloaded and checked here, not at the first invert
    announce(caffenet_cache_path())


@weights_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="The release zip, a Caffe generator.caffemodel, or the upconvGAN port's .pt."),
    layer: str = typer.Option(..., "--layer", "-l", help="Which generator: conv5 (the release's pool5), fc6, fc7, fc8 or prob (fc8's softmax)."),
    fmt: str = typer.Option("auto", "--format", help=f"{', '.join(FORMATS)} (auto: from the file name)."),
    out: Path | None = typer.Option(None, "--out", "-o", help=f"Write here [default: the cache, as {DEEPSIM}LAYER]."),
    alexnet: str = typer.Option(CAFFENET, "--alexnet", help="The CaffeNet it is run with: caffenet (the authors'), caffenet:PATH or caffenet:random:SEED (needs --out)."),
) -> None:
    """Convert an authors' generator you already have into invertnet's format (kernels flipped, BGR to RGB)."""
    if out is not None and out.suffix != ".safetensors":
        raise InvertnetError(f"--out {out}: the file name must end in .safetensors")
    announce(import_weights(file, layer, fmt, out, alexnet))


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")
