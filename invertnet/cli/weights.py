"""``invertnet weights list|fetch|import``: the authors' generators, CaffeNet, and what is on this machine.

    invertnet weights fetch deepsim:fc7                 # the authors' fc7 generator and CaffeNet, once
    invertnet weights fetch deepsim:fc6 --source release
    invertnet weights fetch deepsim                     # one generator per layer, norm1 to fc8
    invertnet weights import upconvGAN_fc6_eucl.pt --as deepsim:fc6_eucl
    invertnet weights import release_deepsim_v0.zip --layer fc6 --out fc6.safetensors
    invertnet weights list
    invertnet weights export runs/fc7 --out fc7.safetensors   # the generator alone; the run folder can go
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..errors import InvertnetError
from ..names import CAFFENET, DEEPSIM, FORMATS, LAYERS, TRAINABLE_LAYERS
from ..version import versioned
from .common import announce, check_results_file, stderr, stdout_console, write_json_record
from .options import AUTHORS, Format, Layer, Source, flag, json_option, plain

weights_app = typer.Typer(
    help="The authors' generators and CaffeNet: list, fetch (download once), import (convert a file you have); export a run's generator.", no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _size(size: int | None, cached: bool) -> str:
    if size is None:
        return "-"
    return f"{'' if cached else '~'}{size / 1e6:,.0f} MB"


def list_command(
    json_path: Path | None = json_option("the list, with every path, URL and full hash"),
    wide: bool = flag(False, "--wide", help="Show each source's URL (the default table fits 100 columns, a row a line)."),
) -> None:
    """Known generators, encoders and the sources of the authors' models: whether each is here, its size, hash and origin."""
    from ..files.downloads import cache_dir
    from ..inversion import default_weights
    from ..weights.registry import known_weights

    check_results_file("--json", json_path, ".json")
    rows = known_weights({layer: default_weights(layer) for layer in TRAINABLE_LAYERS})
    if json_path is not None:
        write_json_record(json_path, versioned("weights", {"weights": [row.as_dict() for row in rows]}))
        return
    console = stdout_console()
    view = Table(title=f"Cache: {cache_dir()} (follows TORCH_HOME). ~: the expected size of a file not here.", title_justify="left",
                 width=min(console.width, 100))
    for column, ratio in (("name", 3), ("here", 1), ("size", 1), ("hash", 2), ("from", 5)):
        view.add_column(column, overflow="fold", ratio=ratio)
    for row in rows:
        name = f"{row.name} (default)" if row.default else row.name
        view.add_row(name, "yes" if row.cached else "no", _size(row.size, row.cached), row.hash_text() or "-", row.origin_text(url=wide) or "-")
    console.print(view)


def fetch(
    names: list[str] = typer.Argument(
        ..., metavar="NAME...", show_default=False, help=f"{AUTHORS} (each with CaffeNet, which it needs), deepsim (one per layer, norm1 to fc8), or caffenet."
    ),
    source: Source | None = typer.Option(
        None, "--source", show_default=False,
        help="Take each named model from this source alone [default: the first that works, in the order listed (caffenet: zoo, then hf)].",
    ),
) -> None:
    """Download and convert once: afterwards these weights work offline."""
    from ..encoders import reference_caffenet
    from ..weights.registry import expand_deepsim, fetch_deepsim, is_deepsim, model_sources

    names = expand_deepsim(names)
    for name in names:
        if name != CAFFENET and not name.startswith(DEEPSIM):
            raise InvertnetError(f"cannot fetch {name!r}: name {AUTHORS} or caffenet")
    if source == "release" and CAFFENET in names:
        raise InvertnetError("caffenet has no release source: its sources are zoo and hf")
    if source == "zoo" and any(is_deepsim(name) for name in names):
        raise InvertnetError("--source zoo is CaffeNet's (the Caffe model zoo): the authors' generators come from hf or release")
    for name in names:
        if name != CAFFENET:
            model_sources(name, source)  # a known model with that source: checked before any download
    for name in dict.fromkeys(names):
        if name != CAFFENET:
            announce(fetch_deepsim(name, source))
    chosen, _ = reference_caffenet(source if CAFFENET in names else None)  # what every authors' generator runs with: had and checked now
    announce(chosen.path)


def import_command(
    file: Path = typer.Argument(..., metavar="FILE", show_default=False, help="The release zip (or one model's zip), a Caffe generator.caffemodel, or the port's .pt."),
    layer: Layer | None = typer.Option(
        None, "--layer", "-l", metavar="LAYER", show_default=False,
        help=f"The layer it inverts ({', '.join(LAYERS)}): the authors' generator of that layer.",
    ),
    as_model: str | None = typer.Option(None, "--as", metavar="NAME", show_default=False, help=f"Which authors' model it is: {AUTHORS} [default: deepsim:LAYER]."),
    fmt: Format = typer.Option("auto", "--format", metavar="FORMAT", help=f"The file's format: {', '.join(FORMATS)} (auto: from the file name)."),
    out: Path | None = typer.Option(None, "--out", "-o", metavar="PATH", show_default=False, help="Write here [default: the cache, as the model's deepsim:NAME]."),
    encoder: str = typer.Option(
        CAFFENET, "--encoder", metavar="SPEC",
        help="The CaffeNet it is run with: caffenet (the authors'), caffenet:PATH or caffenet:random:SEED (needs --out).",
    ),
) -> None:
    """Convert an authors' generator you already have into invertnet's format (kernels flipped, BGR to RGB)."""
    from ..weights.registry import authors_model, import_weights

    if out is not None and out.suffix != ".safetensors":
        raise InvertnetError(f"--out {out}: the file name must end in .safetensors")
    if layer is None and as_model is None:
        raise InvertnetError(f"name the generator: --layer LAYER, or --as one of {AUTHORS}")
    model = authors_model(as_model) if as_model is not None else authors_model(layer)  # type: ignore[arg-type]
    if as_model is not None and layer is not None and layer != model.layer:
        raise InvertnetError(f"--as {DEEPSIM}{model.name} inverts {model.layer}, not --layer {layer}")
    announce(import_weights(file, model.name, fmt, out, encoder))


def export_command(
    run: Path = typer.Argument(..., metavar="RUN", show_default=False, help="A run folder (train --out), or its checkpoint file."),
    out: Path = typer.Option(..., "--out", "-o", metavar="PATH", show_default=False, help="The generator file to write (.safetensors)."),
) -> None:
    """Write a run's newest generator as a file of its own (checked; no discriminator, no Adam state), to keep once the run is done."""
    from ..training.export import export_generator

    check_results_file("--out", out, ".safetensors")
    done = export_generator(run, out)
    stderr.print(
        f"step {done.step:,} of {done.source}: {done.bytes / 1e6:,.1f} MB (the run: {done.run_bytes / 1e6:,.1f} MB). "
        "The generator works from this file alone (--weights PATH); delete the run folder once it need not be resumed.",
        highlight=False,
    )
    announce(done.path)


def register(app: typer.Typer) -> None:
    weights_app.command("list", short_help="What generators and encoders are here, with sizes, hashes and sources.")(plain(list_command))
    weights_app.command("fetch", short_help="Download and convert the authors' models once, for offline use.")(plain(fetch))
    weights_app.command("import", short_help="Convert an authors' generator file you already have.")(plain(import_command))
    weights_app.command("export", short_help="A run's generator as a file of its own, without the training state.")(plain(export_command))
    app.add_typer(weights_app, name="weights", short_help="The authors' generators and CaffeNet: list, fetch, import; export a run's.")
