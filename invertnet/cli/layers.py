"""``invertnet layers SPEC``: an encoder's layers, each one's feature shape, and the generator there is for it.

Read without the encoder's weights (shapes come from the architecture), so it answers offline. The
generator column says where ``invert --layer LAYER`` would find one: the user's default file
(:func:`invertnet.inversion.default_weights`), the authors' (``deepsim:LAYER``, for CaffeNet's layers), or none.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..version import versioned
from .common import stdout_console, write_json_record
from .options import json_option, plain


def layers_command(
    spec: str = typer.Argument(..., metavar="SPEC", help="The encoder, as --encoder takes it: imagenet, caffenet, resnet50, vgg16:random:0, ..."),
    json_path: Path | None = json_option("the layers, their shapes and generators"),
) -> None:
    """List an encoder's layers: name, feature shape, whether it is the default comparator, and the generator available for it."""
    from ..encoders import describe_shape
    from ..inversion import available_generators

    rows = available_generators(spec)
    if json_path is not None:
        write_json_record(json_path, versioned("layers", {"encoder": spec, "layers": [row.to_dict() for row in rows]}))
        if str(json_path) == "-":
            return
    out = stdout_console()
    width = max(len("layer"), *(len(row.layer) for row in rows))
    shapes = max(len("shape"), *(len(describe_shape(row.shape)) for row in rows))
    out.print(f"{'layer':{width}}  {'shape':>{shapes}}  comparator  generator", highlight=False)
    for row in rows:
        mark = "yes" if row.comparator else ""
        out.print(f"{row.layer:{width}}  {describe_shape(row.shape):>{shapes}}  {mark:10}  {row.describe()}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("layers", short_help="List an encoder's layers, their feature shapes and generators.")(plain(layers_command))
