"""``invertnet plot RUN... --out curves.png``: learning curves from run folders' ``metrics.jsonl``, drawn with Pillow."""

from __future__ import annotations

from pathlib import Path

import typer

from ..names import CURVE_QUANTITIES
from .common import announce, check_image_output, check_outputs
from .options import choices, flag, out_option, plain

Quantity = choices("Quantity", CURVE_QUANTITIES)


def plot_command(
    runs: list[Path] = typer.Argument(..., metavar="RUN...", show_default=False, help="Run folders (or their metrics.jsonl): a line each."),
    quantity: list[Quantity] | None = typer.Option(  # type: ignore[valid-type]
        None, "--quantity", "-q", metavar="NAME", show_default=False,
        help=f"A panel per quantity ({', '.join(CURVE_QUANTITIES)}); repeat for several [default: the loss and each term the runs log].",
    ),
    raw: bool = flag(False, "--raw", help="The loss terms as eq. 2-5 define them, not times their lambda (what sums to the loss)."),
    out: Path = out_option(Path("curves.png"), "The picture; the suffix picks the format: .png, .jpg, .jpeg, .webp."),
) -> None:
    """Draw the learning curves of one or more runs: a panel per quantity (log scale when positive), a line per run."""
    from ..data.charts import line_charts
    from ..data.imageio import save_image
    from ..training.curves import learning_curves

    check_image_output("--out", out)
    check_outputs([], [out])
    panels = learning_curves(list(runs), list(quantity) if quantity else None, raw)
    announce(save_image(line_charts(panels), out))


def register(app: typer.Typer) -> None:
    app.command("plot", short_help="Learning curves of runs from their metrics.jsonl.")(plain(plot_command))
