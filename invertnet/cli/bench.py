"""``invertnet bench``: training, inversion and input-pipeline speed on this machine (see :mod:`invertnet.bench`).

    invertnet bench --json bench.json             # the full measurement (minutes on a GPU)
    invertnet bench --small --device cpu          # the same measurements on tiny budgets, as CI runs them
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from ..version import versioned
from .common import check_results_file, stderr, stdout_console, write_json_record
from .options import DEVICE, PRECISION, Precision, complete_layer, flag, json_option, plain

if TYPE_CHECKING:
    from ..bench import BenchReport


def tables(report: BenchReport) -> list[Table]:
    """The training rows, the invert rows and the pipeline, each as a table."""
    rates = ", ".join(f"{name} {value:.3g}" for name, value in report.matmul_tflops.items())
    train = Table(title=f"Training step, batch {report.batch_size}, on {report.device} (dense matmul TFLOP/s: {rates})", title_justify="left")
    for column in ("layer", "path", "images/s", "fp32 eager images/s", "speedup", "GFLOP/step", "TFLOP/s", "of matmul rate"):
        train.add_column(column, justify="left" if column in ("layer", "path") else "right")
    for row in report.train:
        path = row.precision + (" compiled" if row.compiled else "") + (" graph" if row.cuda_graph else "")
        train.add_row(
            row.layer, path, f"{row.images_per_s:.4g}", f"{row.baseline_images_per_s:.4g}", f"{row.speedup:.2f}x",
            f"{row.step_gflop:.4g}", f"{row.achieved_tflops:.3g}", f"{100 * row.fraction_of_matmul:.1f}%",
        )
    invert = Table(title=f"invert ({report.config['encoder']} features + generator)", title_justify="left")
    for column in ("layer", "path", "batch", "images/s", "ms/image"):
        invert.add_column(column, justify="left" if column in ("layer", "path") else "right")
    for row in report.invert:
        invert.add_row(row.layer, row.precision, str(row.batch_size), f"{row.images_per_s:.4g}", f"{row.ms_per_image:.4g}")
    views = [train, invert]
    if report.pipeline is not None:
        result = report.pipeline
        pipeline = Table(title=f"Input pipeline alone, training transforms (files: DataLoader, {result.workers} workers)", title_justify="left")
        pipeline.add_column("source")
        pipeline.add_column("images/s", justify="right")
        pipeline.add_row(f"synthetic (dead leaves, painted on {report.device})", f"{result.synthetic_images_per_s:.4g}")
        pipeline.add_row(f"{result.jpeg_source} (Pillow in the workers)", f"{result.jpeg_images_per_s:.4g}")
        if result.jpeg_gpu_decode_images_per_s is not None:
            pipeline.add_row(f"{result.jpeg_source} (--gpu-decode: nvJPEG on {report.device})", f"{result.jpeg_gpu_decode_images_per_s:.4g}")
        views.append(pipeline)
    return views


def bench(
    small: bool = flag(False, "--small", help="Tiny budgets (batch 2, one timed step, conv5 and fc6): seconds on a CPU."),
    layers: list[str] = typer.Option(
        [], "--layer", "-l", metavar="LAYER", show_default=False, autocompletion=complete_layer,
        help="Layers whose training step to time (repeatable) [default: for AlexNet and CaffeNet, Table 2's four; conv5, fc6 with --small].",
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", "-b", metavar="N", show_default=False, help="Training batch [default: 64; 2 with --small]."),
    repeats: int | None = typer.Option(None, "--repeats", metavar="N", show_default=False, help="Timed calls per measurement [default: 20; 1 with --small]."),
    warmup: int | None = typer.Option(None, "--warmup", metavar="N", show_default=False, help="Untimed calls first [default: 3; 1 with --small]."),
    invert_batch: int | None = typer.Option(None, "--invert-batch", metavar="N", show_default=False, help="The large batch for invert [default: 512; 8 with --small]."),
    precision: Precision = PRECISION,
    compile: bool = flag(False, "--compile/--no-compile", help="Time the training step under torch.compile."),
    cuda_graph: bool = flag(False, "--cuda-graph/--no-cuda-graph", help="Time the training step captured into a CUDA graph (train --cuda-graph)."),
    data: str | None = typer.Option(None, "--data", metavar="FOLDER", show_default=False, help="An image folder of JPEGs to time the pipeline on [default: generated JPEGs]."),
    matmul_size: int | None = typer.Option(
        None, "--matmul-size", metavar="N", show_default=False,
        help="Side of the square matmuls that measure the device's rate [default: 8192 on CUDA, 1024 on CPU; 512 with --small].",
    ),
    workers: int | None = typer.Option(None, "--workers", metavar="N", show_default=False, help="Loader workers for the pipeline [default: train's default on this device]."),
    encoder: str = typer.Option(
        "random:0", "--encoder", metavar="SPEC", help="The encoder: random:0 (AlexNet), resnet50:random:0, ... (speed does not depend on the weights).",
    ),
    device: str = DEVICE,
    json_path: Path | None = json_option("every figure"),
) -> None:
    """Measure training images/s per layer against fp32 eager, model FLOPs against the matmul rate, invert and data-pipeline rates."""
    from ..bench import BenchConfig, run_bench

    check_results_file("--json", json_path, ".json")
    chosen = {
        "layers": tuple(layers) if layers else None, "batch_size": batch_size, "steps": repeats, "warmup": warmup,
        "invert_batch": invert_batch, "precision": precision, "compile": compile, "cuda_graph": cuda_graph, "data": data, "workers": workers, "matmul_size": matmul_size,
        "encoder": encoder, "device": device,
    }
    overrides = {key: value for key, value in chosen.items() if value is not None}
    config = BenchConfig.small(**overrides) if small else BenchConfig(**overrides)
    with stderr.status("bench") as status:
        report = run_bench(config, on_progress=lambda stage: status.update(f"bench: {stage}"))
    console = stdout_console(to_stderr=str(json_path) == "-")
    for view in tables(report):
        console.print(view)
    if json_path is not None:
        write_json_record(json_path, versioned("bench", report.to_dict()))


def register(app: typer.Typer) -> None:
    app.command("bench", short_help="Training, inversion and input-pipeline speed on this machine.")(plain(bench))
