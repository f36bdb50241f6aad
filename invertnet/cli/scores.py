"""``invertnet eval --reconstructions DIR --true DIR``: the brain-decoding scores of reconstructions already made.

One row per subject and ROI (README, "Features decoded from the brain"; the JSON's schema in docs/outputs.md).
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.table import Table

from ..errors import InvertnetError
from ..version import versioned
from .common import check_results_file, stderr, stdout_console, write_json_record


def _number(value: object, percent: bool = False) -> str:
    if value is None:
        return ""
    return f"{100 * float(value):.1f}" if percent else f"{float(value):.3f}"  # type: ignore[arg-type]


def scores_table(rows: list[dict[str, object]]) -> Table:
    """The rows as a table: subject, ROI, images, pixel r, identification %, image error % (under 80 columns)."""
    view = _table("Reconstructions against the true images (identification: % correct, chance 50)")
    for column in ("subject", "ROI", "images", "pixel r", "ident. %", "img err %"):
        view.add_column(column, justify="left" if column in ("subject", "ROI") else "right")
    for row in rows:
        view.add_row(str(row["subject"] or "-"), str(row["roi"] or "-"), str(row["images"]), _number(row["pixel_correlation"]),
                     _number(row["identification_accuracy"], True), _number(row["image_error_fraction"], True))
    return view


def features_table(rows: list[dict[str, object]], encoder: str) -> Table:
    """The feature scores, a line per subject, ROI and layer (any number of layers stays under 80 columns)."""
    view = _table(f"Features of {encoder}: correlation, identification (%)")
    for column in ("subject", "ROI", "layer", "r", "ident. %"):
        view.add_column(column, justify="left" if column in ("subject", "ROI", "layer") else "right")
    for row in rows:
        for layer, found in row["features"].items():  # type: ignore[attr-defined]
            view.add_row(str(row["subject"] or "-"), str(row["roi"] or "-"), layer, _number(found["correlation"]),
                         _number(found["identification_accuracy"], True))
    return view


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, min_width=min(len(title), 80))


def eval_reconstructions(
    reconstructions: Path | None, true: Path | None, encoder: str | None, layer: str | None, json_path: Path | None, device: str,
) -> None:
    """Score every subject and ROI under ``reconstructions`` against ``true`` (see the module)."""
    from ..decoded.scores import TrueImages, find_groups, score_group

    if reconstructions is None or true is None:
        raise InvertnetError("--reconstructions DIR and --true DIR go together: the images made and the images they should be")
    layers = [name.strip() for name in (layer or "").split(",") if name.strip()]
    if bool(layers) != bool(encoder):
        raise InvertnetError("--encoder SPEC and --layer L[,L...] go together: the feature scores need a network and its layers (the tree's names)")
    check_results_file("--json", json_path, ".json")
    groups = find_groups(reconstructions)
    truth = TrueImages(true)
    network = None
    if encoder:
        from ..devices import resolve_device
        from ..encoders import load_encoder
        from ..encoders.tree_taps import check_tree_layer

        network = load_encoder(encoder, device=resolve_device(device))
        for name in layers:
            check_tree_layer(network, name)
    rows = [score_group(group, truth, network, tuple(layers)).row() for group in groups]
    console = stdout_console(json_path is not None and str(json_path) == "-")
    console.print(scores_table(rows))
    if layers:
        console.print(features_table(rows, str(encoder)))
    if json_path is not None:
        record = {"reconstructions": str(reconstructions), "true": str(true), "encoder": encoder, "layers": layers, "rows": rows}
        write_json_record(json_path, versioned("reconstruction_scores", record))
    elif any(row["pixel_correlation"] is None for row in rows):
        stderr.print("a group's images are constant: its correlations are undefined (empty)", highlight=False)
