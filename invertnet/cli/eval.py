"""``invertnet eval``: Table 2 for one or many methods, beside the paper's numbers.

    invertnet eval --split val --data /data/imagenet --layer fc6 --weights runs/fc6
    invertnet eval --data synthetic --limit 64 --weights runs/a --weights runs/b --method optimize \\
        --json r.json --csv r.csv --html report/
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import typer
from rich.table import Table

from ..data.datasets import CROP_STYLES, SPLITS, crop_style, eval_count, has_splits, open_source
from ..devices import resolve_device
from ..encoders import Encoder, load_encoder
from ..encoders.alexnet import check_layer
from ..errors import InvertnetError
from ..evaluation.lpips import load_lpips
from ..evaluation.optimize import OptimizeConfig
from ..evaluation.protocol import (
    PER_IMAGE,
    EvalResult,
    Method,
    evaluate_methods,
    generator_method,
    mean_image,
    mean_method,
    optimize_method,
)
from ..evaluation.report import HEADER, metrics_rows, paper_rows, write_report
from ..files.atomic import atomic_path, check_writable
from ..inversion import Inverter
from ..training.config import MAX_BATCH
from .common import ALEXNET, DEVICE, announce, check_results_file, encoder_spec, given, progress_bar, refuse, stderr, stdout_console

METHODS = ("generator", "optimize", "mean")
MEAN_IMAGES = 1000
THUMBNAILS = 48


def table(results: list[EvalResult]) -> Table:
    """The methods' figures, then the paper's Table 2 rows for the same layers."""
    view = Table(title=f"Normalized inversion error (%; 100 = a random test image) and image quality, n={results[0].n}", title_justify="left")
    for column in HEADER:
        view.add_column(column, justify="left" if column in ("method", "layer", "encoder", "comparator") else "right")
    for row in metrics_rows(results):
        view.add_row(*row)
    for row in paper_rows([r.layer for r in results]):
        view.add_row(*row, style="dim")
    first = results[0]
    protocol = f"{first.crops} crops, errors on {'8-bit images clipped to [0, 1]' if first.clamped else 'the raw output'}"
    view.caption = (
        f"Data {first.data}; {protocol}; each method against its encoder's crops and features. Paper: CaffeNet with ImageNet weights, ILSVRC-2012 val."
    )
    return view


def write_json(path: Path, results: list[EvalResult]) -> None:
    """The first method's figures at the top level, every method's under ``results``."""
    text = json.dumps({**results[0].summary(), "results": [r.summary() for r in results]}, indent=2) + "\n"
    if str(path) == "-":
        print(text, end="")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    announce(path)


def write_csv(path: Path, results: list[EvalResult]) -> None:
    """One row per image and method, with the normalised per-image errors too."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "layer", "encoder", "image", "image_error", "feature_error", *PER_IMAGE])
        for r in results:
            for i, name in enumerate(r.names):
                values = [r.per_image[key][i] for key in PER_IMAGE]
                image_error = r.per_image["image_distance"][i] / r.image_normalizer
                feature_error = r.per_image["feature_distance"][i] / r.feature_normalizer
                writer.writerow([r.method, r.layer, r.alexnet, name, f"{image_error:.6g}", f"{feature_error:.6g}", *(f"{v:.6g}" for v in values)])
    announce(path)


EVAL_PRESETS = ("default", "paper")


def check_mean_data(data: str, mean_data: str | None) -> str:
    """The training images of ``--method mean``: never the test images themselves (that would flatter the baseline)."""
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
    layer: str | None = typer.Option(None, "--layer", "-l", help="Layer to invert [default: each checkpoint's own]."),
    data: str = typer.Option(..., "--data", help="An ILSVRC-2012 root, an image folder, or 'synthetic'."),
    split: str = typer.Option("val", "--split", help=f"Which split of an ILSVRC-2012 root or of synthetic: {', '.join(SPLITS)}."),
    weights: list[str] | None = typer.Option(None, "--weights", "-w", help="A generator (.safetensors or run folder); repeat to compare several."),
    method: list[str] | None = typer.Option(
        None, "--method", help="'generator' (the default), 'optimize' (Mahendran & Vedaldi) and/or 'mean' (the mean training image, the best constant)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate the first N images only [default: all]."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Images per forward pass."),
    optimize_iterations: int | None = typer.Option(
        None, "--optimize-iterations", help=f"Iterations of --method optimize (its schedule is scaled) [default: {OptimizeConfig().iterations}]."
    ),
    mean_images: int | None = typer.Option(
        None, "--mean-images", help=f"Training images averaged by --method mean [default: {MEAN_IMAGES}]."
    ),
    mean_data: str | None = typer.Option(
        None, "--mean-data",
        help="Where --method mean takes its training images: an ILSVRC-2012 root (its train/), synthetic, or a folder of training "
        "images [default: the train split of --data; required when --data is a plain folder, which is the test set itself].",
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures as JSON ('-' for stdout)."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write one row per image and method."),
    html_dir: Path | None = typer.Option(None, "--html", help="Write an offline HTML report (table and thumbnails) to this folder."),
    save_reconstructions: Path | None = typer.Option(None, "--save-reconstructions", help="Write DIR/input/NAME.png and DIR/recon/NAME.png."),
    crops: str = typer.Option("torchvision", "--crops", help=f"{', '.join(CROP_STYLES)}: center crops of images with the short side at 256, or of 256x256 images (the authors')."),
    unclamped: bool = typer.Option(False, "--unclamped", help="Measure the errors on the generators' raw output, not on 8-bit images clipped to [0, 1]."),
    preset: str = typer.Option("default", "--preset", help="paper: the authors' protocol as far as known (--crops caffe --unclamped); options given beside it override it."),
    alexnet: str | None = ALEXNET,
    device: str = DEVICE,
) -> None:
    """Normalized Euclidean error in image and feature space (Table 2), PSNR, SSIM, MS-SSIM, LPIPS, class agreement."""
    if preset not in EVAL_PRESETS:
        raise InvertnetError(f"unknown --preset {preset!r}: choose one of {', '.join(EVAL_PRESETS)}")
    if preset == "paper":
        crops = crops if given(ctx, "crops") else "caffe"
        unclamped = unclamped if given(ctx, "unclamped") else True
    crop_style(crops)
    _check_outputs(json_path, csv_path, html_dir, save_reconstructions)
    if limit is not None and limit < 2:
        raise InvertnetError(f"--limit must be at least 2 (the error is normalised by distances between test images), got {limit}")
    if not 1 <= batch_size <= MAX_BATCH:
        raise InvertnetError(f"--batch-size must be between 1 and {MAX_BATCH:,}, got {batch_size}")
    chosen = _chosen_methods(method, weights, optimize_iterations, mean_images, mean_data)
    if layer is not None:
        check_layer(layer)
    if not has_splits(data):
        refuse(ctx, ["split"], f"to {data}: it is a plain image folder, used whole (--split picks train/ or val/ of an ILSVRC-2012 root, or of synthetic)")
    if "mean" in chosen:
        mean_data = check_mean_data(data, mean_data)
    source = open_source(data, split)
    torch_device = resolve_device(device)
    encoders: dict[str, Encoder] = {}
    groups: dict[str, list[Method]] = {}  # encoder -> its methods: each encoder sees its own crops

    def encoder(spec: str) -> Encoder:
        if spec not in encoders:
            encoders[spec] = load_encoder(spec, device=torch_device)
        return encoders[spec]

    if "generator" in chosen:
        for path in weights or [None]:
            spec = encoder_spec(alexnet, path, layer)
            groups.setdefault(spec, []).append(generator_method(Inverter.load(layer, path, alexnet=encoder(spec), device=torch_device), clamp=not unclamped))
    layers = [layer] if layer is not None else list(dict.fromkeys(m.layer for methods in groups.values() for m in methods))
    for name in ("optimize", "mean"):
        if name in chosen and not layers:
            raise InvertnetError(f"--method {name} needs --layer (or --weights to take layers from)")
    base = alexnet or next(iter(groups), "imagenet")  # the encoder of the baselines: --alexnet, else the first generator's
    baselines = _baselines(chosen, layers, encoder(base) if {"optimize", "mean"} & set(chosen) else None, optimize_iterations,
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
    with progress_bar("eval") as progress:
        task = progress.add_task("eval", total=total * len(groups))
        for done_before, (spec, methods) in zip(range(0, total * len(groups), total), groups.items()):
            results += evaluate_methods(
                methods, encoder(spec), source, limit=limit, batch_size=batch_size, save_dir=save_reconstructions,
                thumbnails=(html_dir / "images", THUMBNAILS) if html_dir is not None else None,
                data_name=f"{data} ({split})", lpips=lpips, lpips_unavailable=lpips_note,
                on_batch=lambda done, before=done_before: progress.update(task, completed=before + done), crops=crops, clamp=not unclamped,
            )
    _write_results(results, json_path, csv_path, html_dir, save_reconstructions)


def _write_results(
    results: list[EvalResult], json_path: Path | None, csv_path: Path | None, html_dir: Path | None, save_reconstructions: Path | None,
) -> None:
    """The table (on stderr when ``--json -`` makes stdout the JSON alone), then each results file asked for."""
    (stderr if str(json_path) == "-" else stdout_console()).print(table(results))
    if json_path is not None:
        write_json(json_path, results)
    if csv_path is not None:
        write_csv(csv_path, results)
    if html_dir is not None:
        announce(write_report(html_dir, results, THUMBNAILS))
    if save_reconstructions is not None:
        announce(save_reconstructions)


def _check_outputs(json_path: Path | None, csv_path: Path | None, html_dir: Path | None, save_reconstructions: Path | None) -> None:
    """Every output named, checked before any work: results files by their suffix, folders writable."""
    check_results_file("--json", json_path, ".json")
    check_results_file("--csv", csv_path, ".csv")
    for flag, folder in (("--html", html_dir), ("--save-reconstructions", save_reconstructions)):
        if folder is not None:
            check_writable(folder, folder=True, flag=flag)


def _chosen_methods(
    method: list[str] | None, weights: list[str] | None, optimize_iterations: int | None, mean_images: int | None, mean_data: Path | None,
) -> list[str]:
    """The ``--method`` values, each known, with every method-specific option given only beside its method."""
    chosen = list(dict.fromkeys(method or ["generator"]))
    for name in chosen:
        if name not in METHODS:
            raise InvertnetError(f"unknown --method {name!r}: choose from {', '.join(METHODS)}")
    needed = (("--weights", weights, "generator"), ("--optimize-iterations", optimize_iterations, "optimize"), ("--mean-images", mean_images, "mean"),
              ("--mean-data", mean_data, "mean"))
    for flag, value, needs in needed:
        if value is not None and needs not in chosen:
            raise InvertnetError(f"{flag} applies to --method {needs}, which is not among the chosen methods ({', '.join(chosen)})")
    for flag, value in (("--optimize-iterations", optimize_iterations), ("--mean-images", mean_images)):
        if value is not None and value < 1:
            raise InvertnetError(f"{flag} must be a positive integer, got {value}")
    return chosen


def _baselines(
    chosen: list[str], layers: list[str], base: Encoder | None, optimize_iterations: int | None, mean_data: Path | str | None,
    mean_images: int | None, crops: str,
) -> list[Method]:
    """The baseline methods chosen, for each layer, on the encoder ``base``: the optimisation, and the mean training image."""
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
    app.command("eval")(eval_command)
