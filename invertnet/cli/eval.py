"""``invertnet eval``: Table 2 for one or many methods, beside the paper's numbers.

    invertnet eval --split val --data /data/imagenet --layer fc6 --weights runs/fc6
    invertnet eval --data synthetic --limit 64 --weights runs/a --weights runs/b --method optimize \\
        --json r.json --csv r.csv --html report/
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from ..errors import InvertnetError
from ..names import MAX_BATCH, OPTIMIZE_ITERATIONS
from .common import announce, check_results_file, encoder_spec, given, refuse, stderr, stdout_console, write_json_record
from .options import Crops, Preset, Split, choices, csv_option, device_option, encoder_option, flag, json_option, layer_option, plain
from .progress import progress_bar

if TYPE_CHECKING:
    from ..encoders import Encoder
    from ..evaluation.protocol import EvalResult, Method

METHODS = ("generator", "optimize", "mean")
EvalMethod = choices("EvalMethod", METHODS)
MEAN_IMAGES = 1000
THUMBNAILS = 48
WHAT, DATA, BASELINES, OUTPUT, SCORES = "What to evaluate", "Data and protocol", "Baselines", "Output", "Reconstructions already made"
"""The groups of ``eval --help``."""


def table(results: list[EvalResult], wide: bool = False, width: int = 100) -> Table:
    """The methods' figures, then the paper's Table 2 rows for the same layers; narrow (100 columns) unless ``wide``, and under
    100 columns (``width``) without LPIPS and top-1, so that at 80 a row is a line."""
    from ..encoders import is_paper_family
    from ..evaluation.report import COMPACT_HEADER, HEADER, LEGEND, NARROW_HEADER, TOP1_LEGEND, metrics_rows, paper_rows

    compact = not wide and width < 100

    view = Table(
        title=f"Normalized inversion error (%; 100 = a random test image) and image quality, n={results[0].n}", title_justify="left",
        box=box.SIMPLE_HEAD, caption_justify="left", pad_edge=False, collapse_padding=True,
    )
    for column in HEADER if wide else COMPACT_HEADER if compact else NARROW_HEADER:
        text = column in ("method", "layer", "encoder", "comparator")
        view.add_column(column, justify="left" if text else "right", overflow="ellipsis" if compact else "fold", no_wrap=compact or not text,
                        min_width=None if column == "method" else max(len(column), 5),
                        max_width=max(12, width - 60) if compact and column == "method" else None,
                        )  # numbers and their headers whole; under 100 columns, a row a line (a long method name is shortened)
    for row in metrics_rows(results, wide, compact):
        view.add_row(*row)
    compared = paper_rows([r.layer for r in results if is_paper_family(r.encoder)], wide, compact)
    for row in compared:
        view.add_row(*row, style="dim")
    first = results[0]
    protocol = f"{first.crops} crops, errors on {'8-bit images clipped to [0, 1]' if first.clamped else 'the raw output'}"
    encoders = ", ".join(dict.fromkeys(f"{r.encoder} (comparator {r.comparator})" if r.comparator not in ("-", "none") else r.encoder for r in results))
    view.caption = (
        f"Data {first.data}; {protocol}; encoder {encoders}, each method against its encoder's crops and features. "
        f"{'Paper: CaffeNet with ImageNet weights, ILSVRC-2012 val.' if compared else ''}{'' if wide else ' ' + LEGEND + ('' if compact else TOP1_LEGEND) + '.'}"
    )
    return view


def write_json(path: Path, results: list[EvalResult], settings: dict[str, object]) -> None:
    """:func:`~invertnet.evaluation.protocol.eval_record` to ``path`` (``-``: stdout)."""
    from ..evaluation.protocol import eval_record

    write_json_record(path, eval_record(results, settings))


def write_csv(path: Path, results: list[EvalResult]) -> None:
    """One row per image and method, with the normalised per-image errors too (``-``: stdout)."""
    from ..evaluation.protocol import OUTPUT_NAMES, PER_IMAGE
    from ..files.atomic import atomic_path

    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["method", "layer", "encoder", "image", "image_error_fraction", "feature_error_fraction",
                     *(OUTPUT_NAMES.get(key, key) for key in PER_IMAGE)])
    for r in results:
        for i, name in enumerate(r.names):
            values = [r.per_image[key][i] for key in PER_IMAGE]
            image_error = r.per_image["image_distance"][i] / r.image_normalizer
            feature_error = r.per_image["feature_distance"][i] / r.feature_normalizer
            writer.writerow([r.method, r.layer, r.encoder, name, f"{image_error:.6g}", f"{feature_error:.6g}",
                             *("" if math.isnan(v) else f"{v:.6g}" for v in values)])  # a value not measured (LPIPS, classes) is empty
    if str(path) == "-":
        print(text.getvalue(), end="")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text.getvalue(), newline="")
    announce(path)


def check_mean_data(data: str, mean_data: str | None) -> str:
    """The training images of ``--method mean``: never the test images themselves (that would flatter the baseline)."""
    from ..data.datasets import has_splits

    if mean_data is None:
        if not has_splits(data):
            raise InvertnetError(
                f"--method mean needs training images: {data} is a plain folder, the test set itself; pass --mean-data FOLDER "
                "(images from the same distribution, not the ones evaluated), or an ILSVRC-2012 root or synthetic as --data"
            )
        return data
    if not has_splits(mean_data) and not has_splits(data) and os.path.realpath(mean_data) == os.path.realpath(data):
        raise InvertnetError(f"--mean-data {mean_data} is the test set (--data): the mean image must come from other images")
    return mean_data


def eval_command(
    ctx: typer.Context,
    layer: str | None = layer_option(help="Layer to invert [default: each checkpoint's own].", rich_help_panel=WHAT),
    weights: list[str] | None = typer.Option(
        None, "--weights", "-w", metavar="WEIGHTS", show_default=False, rich_help_panel=WHAT,
        help="A generator: a .safetensors file, a run folder, deepsim:NAME (the authors', downloaded once) or deepsim (the authors' for "
        "--layer); repeat to compare several.",
    ),
    method: list[EvalMethod] | None = typer.Option(  # type: ignore[valid-type]
        None, "--method", metavar="<generator|optimize|mean>", show_default=False, rich_help_panel=WHAT,
        help="Repeat to compare: generator (the default), optimize (Mahendran & Vedaldi), mean (the mean training image, the best constant).",
    ),
    encoder: str | None = encoder_option(panel=WHAT),
    data: str | None = typer.Option(
        None, "--data", metavar="FOLDER", show_default=False, rich_help_panel=DATA, help="An ILSVRC-2012 root, an image folder, or 'synthetic' (required unless --reconstructions).",
    ),
    split: Split = typer.Option("val", "--split", rich_help_panel=DATA, help="Which split of an ILSVRC-2012 root or of synthetic."),
    limit: int | None = typer.Option(None, "--limit", metavar="N", show_default=False, rich_help_panel=DATA, help="Evaluate the first N images only [default: all]."),
    crops: Crops = typer.Option(
        "torchvision", "--crops", rich_help_panel=DATA, help="torchvision: center crops of images with the short side at 256; caffe: of 256x256 images (the authors').",
    ),
    unclamped: bool = flag(False, "--unclamped", rich_help_panel=DATA, help="Measure the errors on the generators' raw output, not on 8-bit images clipped to [0, 1]."),
    preset: Preset = typer.Option(
        "default", "--preset", rich_help_panel=DATA, help="paper: the authors' protocol as far as known (--crops caffe --unclamped); options given beside it override it.",
    ),
    iterations: int | None = typer.Option(
        None, "--iterations", metavar="N", show_default=False, rich_help_panel=BASELINES,
        help=f"Iterations of --method optimize (its schedule is scaled) [default: {OPTIMIZE_ITERATIONS}].",
    ),
    mean_images: int | None = typer.Option(
        None, "--mean-images", metavar="N", show_default=False, rich_help_panel=BASELINES, help=f"Training images averaged by --method mean [default: {MEAN_IMAGES}].",
    ),
    mean_data: str | None = typer.Option(
        None, "--mean-data", metavar="FOLDER", show_default=False, rich_help_panel=BASELINES,
        help="Where --method mean takes its training images: an ILSVRC-2012 root (its train/), synthetic, or a folder of training "
        "images [default: the train split of --data; required when --data is a plain folder, which is the test set itself].",
    ),
    json_path: Path | None = json_option("the figures", rich_help_panel=OUTPUT),
    csv_path: Path | None = csv_option("one row per image and method", rich_help_panel=OUTPUT),
    html_dir: Path | None = typer.Option(
        None, "--html", metavar="FOLDER", show_default=False, rich_help_panel=OUTPUT, help="Write an offline HTML report (table and thumbnails) to this folder.",
    ),
    save_reconstructions: Path | None = typer.Option(
        None, "--save-reconstructions", metavar="FOLDER", show_default=False, rich_help_panel=OUTPUT, help="Write FOLDER/input/NAME.png and FOLDER/recon/NAME.png.",
    ),
    wide: bool = flag(False, "--wide", rich_help_panel=OUTPUT, help="Print every column, with full method names (the default table fits 100 columns)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", metavar="N", rich_help_panel=OUTPUT, help="Images per forward pass."),
    device: str = device_option(OUTPUT),
    reconstructions: Path | None = typer.Option(
        None, "--reconstructions", metavar="DIR", show_default=False, rich_help_panel=SCORES,
        help="Score reconstructions already made (DIR/LABEL.png or DIR/SUBJECT/ROI/LABEL.png, as invert --features ROOT writes them) against --true, "
        "as the KamitaniLab scores them: pixel correlation and pairwise identification per subject and ROI.",
    ),
    true: Path | None = typer.Option(
        None, "--true", metavar="DIR", show_default=False, rich_help_panel=SCORES, help="The true images for --reconstructions, matched by file name without suffix.",
    ),
) -> None:
    """Normalized Euclidean error in image and feature space (Table 2), PSNR, SSIM, MS-SSIM, LPIPS, class agreement; or, with
    --reconstructions, the brain-decoding scores (pixel correlation, pairwise identification)."""
    if reconstructions is not None or true is not None:
        refuse(ctx, ["weights", "method", "data", "split", "limit", "crops", "unclamped", "preset", "iterations", "mean_images", "mean_data",
                     "csv_path", "html_dir", "save_reconstructions", "wide", "batch_size"],
               "to --reconstructions (it scores images already made: --true, --encoder, --layer, --json)")
        from .scores import eval_reconstructions

        eval_reconstructions(reconstructions, true, encoder, layer, json_path, device)
        return
    if data is None:
        raise InvertnetError("--data is required (an ILSVRC-2012 root, an image folder, or synthetic), or score made images with --reconstructions DIR --true DIR")
    from ..data.datasets import eval_count, has_splits, open_source
    from ..devices import resolve_device
    from ..encoders import load_encoder
    from ..evaluation.lpips import load_lpips
    from ..evaluation.protocol import evaluate_methods, generator_method
    from ..inversion import Inverter

    if preset == "paper":
        crops = crops if given(ctx, "crops") else "caffe"
        unclamped = unclamped if given(ctx, "unclamped") else True
    _check_outputs(json_path, csv_path, html_dir, save_reconstructions)
    if limit is not None and limit < 2:
        raise InvertnetError(f"--limit must be at least 2 (the error is normalised by distances between test images), got {limit}")
    if not 1 <= batch_size <= MAX_BATCH:
        raise InvertnetError(f"--batch-size must be between 1 and {MAX_BATCH:,}, got {batch_size}")
    chosen = _chosen_methods(method, weights, iterations, mean_images, mean_data)
    if data != "synthetic" and not Path(data).exists():
        raise InvertnetError(f"data folder not found: {data} (or use --data synthetic)")
    if not has_splits(data):
        refuse(ctx, ["split"], f"to {data}: it is a plain image folder, used whole (--split picks train/ or val/ of an ILSVRC-2012 root, or of synthetic)")
    if "mean" in chosen:
        mean_data = check_mean_data(data, mean_data)
    source = open_source(data, split)
    torch_device = resolve_device(device)
    encoders: dict[str, Encoder] = {}
    groups: dict[str, list[Method]] = {}  # encoder -> its methods: each encoder sees its own crops

    def network(spec: str) -> Encoder:
        if spec not in encoders:
            encoders[spec] = load_encoder(spec, device=torch_device)
        return encoders[spec]

    if "generator" in chosen:
        for path in weights or [None]:
            spec = encoder_spec(encoder, path, layer)
            groups.setdefault(spec, []).append(generator_method(Inverter.load(layer, path, encoder=network(spec), device=torch_device), clamp=not unclamped))
    layers = [layer] if layer is not None else list(dict.fromkeys(m.layer for methods in groups.values() for m in methods))
    for name in ("optimize", "mean"):
        if name in chosen and not layers:
            raise InvertnetError(f"--method {name} needs --layer (or --weights to take layers from)")
    base = encoder or next(iter(groups), "imagenet")  # the encoder of the baselines: --encoder, else the first generator's
    baselines = _baselines(chosen, layers, network(base) if {"optimize", "mean"} & set(chosen) else None, iterations,
                           mean_data, mean_images, crops)
    if baselines:
        groups.setdefault(base, []).extend(baselines)
    if len(groups) > 1:
        refuse(ctx, ["html_dir", "save_reconstructions"], f"to generators of different encoders ({', '.join(groups)}): their inputs are different crops; "
               "the table, --json and --csv compare them, or run eval once per encoder for the pictures")
    lpips, lpips_note = load_lpips(torch_device)
    if lpips is None:
        stderr.print(f"LPIPS unavailable: {lpips_note}", highlight=False, soft_wrap=True)
    total = eval_count(source, limit)
    results: list[EvalResult] = []
    with progress_bar() as progress:
        task = progress.add_task("eval", total=total * len(groups))
        for done_before, (spec, methods) in zip(range(0, total * len(groups), total), groups.items()):
            results += evaluate_methods(
                methods, network(spec), source, limit=limit, batch_size=batch_size, save_dir=save_reconstructions,
                thumbnails=(html_dir / "images", THUMBNAILS) if html_dir is not None else None,
                data_name=f"{data} ({split})", lpips=lpips, lpips_unavailable=lpips_note,
                on_batch=lambda done, before=done_before: progress.update(task, completed=before + done), crops=crops, clamp=not unclamped,
            )
    from ..evaluation.optimize import OptimizeConfig

    settings = {"data": str(data), "split": split if has_splits(data) else None, "limit": limit, "images": total,
                "crops": crops, "clamped": not unclamped, "preset": preset,
                "seed": OptimizeConfig().seed if "optimize" in chosen else None,
                "iterations": iterations if "optimize" in chosen else None,
                "mean_images": mean_images if "mean" in chosen else None, "device": str(torch_device)}
    _write_results(results, json_path, csv_path, html_dir, save_reconstructions, wide, settings)


def _write_results(
    results: list[EvalResult], json_path: Path | None, csv_path: Path | None, html_dir: Path | None, save_reconstructions: Path | None, wide: bool,
    settings: dict[str, object],
) -> None:
    """The table (on stderr when ``--json -`` or ``--csv -`` makes stdout the data alone), then each results file asked for."""
    from ..evaluation.report import write_report

    to_stdout = "-" in (str(json_path), str(csv_path))
    console = stdout_console(to_stderr=to_stdout)
    console.print(table(results, wide, console.width))
    if json_path is not None:
        write_json(json_path, results, settings)
    if csv_path is not None:
        write_csv(csv_path, results)
    if html_dir is not None:
        announce(write_report(html_dir, results, THUMBNAILS))
    if save_reconstructions is not None:
        announce(save_reconstructions)


def _check_outputs(json_path: Path | None, csv_path: Path | None, html_dir: Path | None, save_reconstructions: Path | None) -> None:
    """Every output named, checked before any work: results files by their suffix, folders writable."""
    from ..files.atomic import check_writable

    if str(json_path) == "-" and str(csv_path) == "-":
        raise InvertnetError("--json - and --csv - would both write to stdout: send one of them to a file")
    check_results_file("--json", json_path, ".json")
    check_results_file("--csv", csv_path, ".csv")
    for option, folder in (("--html", html_dir), ("--save-reconstructions", save_reconstructions)):
        if folder is not None:
            check_writable(folder, folder=True, flag=option)
    if save_reconstructions is not None and save_reconstructions.is_dir() and any(save_reconstructions.iterdir()):
        raise InvertnetError(f"--save-reconstructions {save_reconstructions} is not empty: an earlier evaluation's pictures would mix with "
                             "this one's (its folders are numbered by method); choose a new folder")


def _chosen_methods(
    method: list[str] | None, weights: list[str] | None, iterations: int | None, mean_images: int | None, mean_data: Path | str | None,
) -> list[str]:
    """The ``--method`` values, each known, with every method-specific option given only beside its method."""
    chosen = list(dict.fromkeys(method or ["generator"]))
    for name in chosen:
        if name not in METHODS:
            raise InvertnetError(f"unknown --method {name!r}: choose from {', '.join(METHODS)}")
    needed = (("--weights", weights, "generator"), ("--iterations", iterations, "optimize"), ("--mean-images", mean_images, "mean"),
              ("--mean-data", mean_data, "mean"))
    for option, value, needs in needed:
        if value is not None and needs not in chosen:
            raise InvertnetError(f"{option} applies to --method {needs}, which is not among the chosen methods ({', '.join(chosen)})")
    for option, value in (("--iterations", iterations), ("--mean-images", mean_images)):
        if value is not None and value < 1:
            raise InvertnetError(f"{option} must be a positive integer, got {value}")
    return chosen


def _baselines(
    chosen: list[str], layers: list[str], base: Encoder | None, optimize_iterations: int | None, mean_data: Path | str | None,
    mean_images: int | None, crops: str,
) -> list[Method]:
    """The baseline methods chosen, for each layer, on the encoder ``base``: the optimisation, and the mean training image."""
    from ..data.datasets import eval_count, has_splits, open_source
    from ..evaluation.optimize import OptimizeConfig
    from ..evaluation.protocol import mean_image, mean_method, optimize_method

    methods: list[Method] = []
    if "optimize" in chosen:
        assert base is not None
        config = OptimizeConfig().scaled(optimize_iterations or OptimizeConfig().iterations)
        methods += [optimize_method(base, name, config) for name in layers]
    if "mean" in chosen:
        assert base is not None and mean_data is not None
        train_source = open_source(mean_data, "train")
        count = eval_count(train_source, mean_images or MEAN_IMAGES)
        with stderr.status(f"mean of {count} training images"):
            mean = mean_image(train_source, count, size=base.input_size, crops=crops)
        what = f"{mean_data} (train)" if has_splits(mean_data) else mean_data
        methods += [mean_method(mean, name, f"mean of {count} images of {what}") for name in layers]
    return methods


def register(app: typer.Typer) -> None:
    app.command("eval", short_help="Table 2: inversion errors and image quality, beside the paper's figures.")(plain(eval_command))
