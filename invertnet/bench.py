"""How fast invertnet runs on this machine, measured in one run (``invertnet bench``).

For each layer it times the real training step (:meth:`Trainer.train_step`, the full DeePSiM
step with the discriminator gate) on a batch already on the device, in the configured
precision and as the plain fp32 eager baseline; counts the step's model FLOPs with torch's
flop counter and sets the achieved rate against this device's dense bf16 matmul rate,
measured in the same run. It also times ``invert`` (AlexNet features and the generator) at
batch 1 and at a large batch, and the input pipeline alone: the synthetic source and a
folder of JPEGs through the training DataLoader and transforms. Timings use random weights
(``random:0``): speed does not depend on what the weights are.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from .data.batches import default_workers, training_batches
from .data.datasets import DeadLeaves, FolderImages, RunOrder, Source, eval_crop, open_source
from .data.imageio import to_uint8
from .devices import resolve_device
from .encoders import input_size, is_paper_family, load_encoder, trainable_layer
from .encoders.alexnet import INPUT_SIZE, TABLE2_LAYERS
from .errors import InvertnetError, named
from .inversion import Inverter
from .models import build_generator
from .precision import Precision
from .training.config import TrainConfig
from .training.loop import Trainer
from .training.step import GRAPH_WARMUP


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how long; :meth:`small` is the CPU-sized version CI runs."""

    layers: tuple[str, ...] | None = None
    """The layers whose training step is timed [default: Table 2's four for AlexNet and CaffeNet; required for another encoder]."""
    batch_size: int = 64
    steps: int = 20
    warmup: int = 3
    invert_layer: str | None = None
    """[default: fc6 for AlexNet and CaffeNet, else the first of :attr:`layers`]."""
    invert_batch: int = 512
    precision: str = "auto"
    compile: bool = False
    cuda_graph: bool = False
    device: str = "auto"
    encoder: str = "random:0"
    data: str | None = None
    jpeg_count: int = 256
    pipeline_batches: int = 8
    workers: int | None = None
    matmul_size: int | None = None
    """Side of the square products that measure the matmul rate [default: 8192 on CUDA, 1024 on a CPU]."""

    @classmethod
    def small(cls, **overrides: object) -> BenchConfig:
        """Seconds, not minutes, on a 2-core CPU: the same measurements on tiny budgets."""
        paper = is_paper_family(str(overrides.get("encoder", cls.encoder)))
        values: dict[str, object] = dict(
            layers=("conv5", "fc6") if paper else None, batch_size=2, steps=1, warmup=1, invert_batch=8, jpeg_count=8, pipeline_batches=2, matmul_size=512
        )
        return cls(**{**values, **overrides})

    def validate(self) -> None:
        for name in ("batch_size", "steps", "invert_batch", "jpeg_count", "pipeline_batches", "matmul_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InvertnetError(f"{named(name)} must be a positive integer, got {getattr(self, name)}")
        if self.warmup < 0:
            raise InvertnetError(f"{named('warmup')} must be >= 0, got {self.warmup}")
        if self.workers is not None and self.workers < 0:
            raise InvertnetError(f"{named('workers')} must be >= 0, got {self.workers}")
        for layer in (*self.timed_layers, self.inverted_layer):
            trainable_layer(self.encoder, layer)

    @property
    def timed_layers(self) -> tuple[str, ...]:
        if self.layers is not None:
            return self.layers
        if not is_paper_family(self.encoder):
            raise InvertnetError(f"give the layers to time for {self.encoder} with --layer (invertnet layers {self.encoder} lists them)")
        return TABLE2_LAYERS

    @property
    def inverted_layer(self) -> str:
        if self.invert_layer is not None:
            return self.invert_layer
        return "fc6" if is_paper_family(self.encoder) else self.timed_layers[0]


@dataclass
class TrainRow:
    """One layer's training step: the configured path against the fp32 eager baseline."""

    layer: str
    precision: str
    compiled: bool
    cuda_graph: bool
    images_per_s: float
    baseline_images_per_s: float
    speedup: float
    step_gflop: float
    achieved_tflops: float
    fraction_of_matmul: float
    """Achieved model FLOP/s over the measured dense matmul rate in the step's own precision
    (bf16 on the fast path, the issue's yardstick; fp32 where the step runs in fp32)."""


@dataclass
class InvertRow:
    """``invert`` throughput at one batch size."""

    layer: str
    precision: str
    batch_size: int
    images_per_s: float
    ms_per_image: float


@dataclass
class PipelineResult:
    """Training crops per second from the input pipeline alone, with the default workers."""

    workers: int
    synthetic_images_per_s: float
    jpeg_images_per_s: float
    jpeg_source: str
    jpeg_gpu_decode_images_per_s: float | None = None
    """The same JPEGs with ``--gpu-decode`` (nvJPEG on the device); measured on CUDA only."""


@dataclass
class BenchReport:
    """Everything one ``invertnet bench`` measured, as written to ``--json``."""

    device: str
    torch: str
    cpu_threads: int
    batch_size: int
    matmul_tflops: dict[str, float]
    train: list[TrainRow] = field(default_factory=list)
    invert: list[InvertRow] = field(default_factory=list)
    pipeline: PipelineResult | None = None
    config: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_per_call(function: Callable[[], object], device: torch.device, calls: int, warmup: int) -> float:
    """Seconds per call of ``function``, after ``warmup`` untimed calls, device work included."""
    for _ in range(warmup):
        function()
    _synchronize(device)
    started = time.perf_counter()
    for _ in range(calls):
        function()
    _synchronize(device)
    return (time.perf_counter() - started) / calls


def matmul_tflops(device: torch.device, dtype: torch.dtype, size: int, seconds: float = 1.0) -> float:
    """The measured dense matmul rate (TFLOP/s) of square ``size`` products in ``dtype``.

    As many products as fit in about ``seconds`` (1 to 50) after one untimed one, so a slow
    path (bf16 on a CPU without bf16 units is hundreds of times slower) cannot stall the run.
    """
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    once = time_per_call(lambda: torch.mm(a, b), device, calls=1, warmup=1)
    per_call = time_per_call(lambda: torch.mm(a, b), device, calls=max(1, min(50, int(seconds / once))), warmup=0)
    return 2 * size**3 / per_call / 1e12


def training_batch(batch_size: int, device: torch.device, size: int = INPUT_SIZE) -> torch.Tensor:
    """Training-sized synthetic crops (``size``: the encoder's) on the device, so the step is timed without input work."""
    source = DeadLeaves("train")
    return torch.stack([eval_crop(source.load(index), size) for index in range(batch_size)]).to(device)


def step_flops(trainer: Trainer, images: torch.Tensor) -> int:
    """Model FLOPs of one training step (forward and backward of every network), counted by torch."""
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(images)
    return counter.get_total_flops()


def _trainer(config: BenchConfig, layer: str, precision: str, compile: bool, cuda_graph: bool, out: Path) -> Trainer:
    run = TrainConfig(
        layer=layer, data="synthetic", out=str(out / f"{layer}-{precision}-{compile}-{cuda_graph}"), steps=1, batch_size=config.batch_size,
        encoder=config.encoder, device=config.device, precision=precision, compile=compile, cuda_graph=cuda_graph, workers=0,
    )
    return Trainer(run)


def bench_training(config: BenchConfig, layer: str, images: torch.Tensor, rates: dict[str, float], out: Path) -> TrainRow:
    """The full DeePSiM step for ``layer``: configured path, fp32 eager baseline, FLOPs."""
    baseline = _trainer(config, layer, "fp32", False, False, out)
    device = baseline.device
    flops = step_flops(baseline, images)
    baseline_seconds = time_per_call(partial(baseline.train_step, images), device, config.steps, config.warmup)
    del baseline  # free its networks before the second trainer is built
    fast = _trainer(config, layer, config.precision, config.compile, config.cuda_graph, out)
    if fast.precision.name == "fp32" and not (config.compile or config.cuda_graph):
        seconds = baseline_seconds  # the configured path is the baseline here (fp32 on this device)
    else:
        extra = (2 if config.compile else 0) + (GRAPH_WARMUP + 1 if config.cuda_graph else 0)  # compile; eager steps and the capture
        seconds = time_per_call(partial(fast.train_step, images), device, config.steps, config.warmup + extra)
    batch = len(images)
    achieved = flops / seconds / 1e12
    return TrainRow(
        layer=layer, precision=fast.precision.name, compiled=config.compile, cuda_graph=config.cuda_graph, images_per_s=batch / seconds,
        baseline_images_per_s=batch / baseline_seconds, speedup=baseline_seconds / seconds, step_gflop=flops / 1e9,
        achieved_tflops=achieved, fraction_of_matmul=achieved / rates[fast.precision.name],
    )


def bench_invert(config: BenchConfig, device: torch.device) -> list[InvertRow]:
    """``invert`` throughput (AlexNet features, then the generator) at batch 1 and a large batch."""
    encoder = load_encoder(config.encoder, device=device)
    generator = build_generator(config.inverted_layer, encoder).to(device).eval().requires_grad_(False)
    inverter = Inverter(encoder, generator, precision=config.precision)
    rows = []
    for batch in (1, config.invert_batch):
        images = torch.rand(batch, 3, encoder.input_size, encoder.input_size, device=device)
        seconds = time_per_call(lambda: inverter.invert(images, batch_size=batch), device, max(config.steps, 3), max(config.warmup, 1))
        rows.append(InvertRow(config.inverted_layer, inverter.precision.name, batch, batch / seconds, 1000 * seconds / batch))
    return rows


@contextmanager
def jpeg_folder(config: BenchConfig) -> Iterator[Source]:
    """``--data`` if given, else a temporary folder of ImageNet-sized JPEGs (500x375, quality 90)."""
    if config.data is not None:
        yield open_source(config.data, "train")
        return
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="invertnet-bench-") as folder:
        source = DeadLeaves("val", size=500)
        for index in range(config.jpeg_count):
            pixels = to_uint8(source.load(index)[:, :375, :]).permute(1, 2, 0).numpy()
            Image.fromarray(pixels).save(Path(folder, f"{index:05d}.jpg"), quality=90)
        yield FolderImages(folder)


def timed_pipeline_batches(batches: int, workers: int) -> tuple[int, int]:
    """(untimed, timed) batch counts for a steady-state rate from a loader with ``workers`` processes.

    Each worker makes whole batches, and the loader keeps two per worker in flight, so the
    first ``2 * workers`` batches arrive together after start-up: timing them measures
    neither start-up nor throughput (an earlier version timed 8 batches after the first and
    reported 27,900 JPEG crops/s from 16 workers that decode about 1,000 JPEGs/s each).
    Those are skipped, then at least four rounds of every worker are timed.
    """
    return max(1, 2 * workers), max(batches, 4 * workers)


def pipeline_images_per_s(
    source: Source, batch_size: int, batches: int, device: torch.device, workers: int | None = None, gpu_decode: bool = False
) -> float:
    """Training crops per second from ``source`` alone, made as ``train`` makes them (:func:`training_batches`), in steady state."""
    processes = 0 if isinstance(source, DeadLeaves) else default_workers(device) if workers is None else workers
    untimed, batches = timed_pipeline_batches(batches, processes)
    order = RunOrder(len(source), seed=0, batch_size=batch_size, start_step=0, steps=untimed + batches)
    iterator = iter(training_batches(source, order, device, workers, gpu_decode))
    for _ in range(untimed):
        next(iterator)
    _synchronize(device)
    started = time.perf_counter()
    count = sum(len(images) for images, _ in (next(iterator) for _ in range(batches)))
    _synchronize(device)
    return count / (time.perf_counter() - started)


def run_bench(config: BenchConfig, on_progress: Callable[[str], None] = lambda message: None) -> BenchReport:
    """Measure everything in :class:`BenchConfig` on one device; ``on_progress`` hears each stage."""
    config.validate()
    device = resolve_device(config.device)
    Precision.resolve(config.precision, device)  # a bad --precision fails before any timing
    on_progress("matmul rate")
    size = config.matmul_size or (8192 if device.type == "cuda" else 1024)
    rates = {"bf16": matmul_tflops(device, torch.bfloat16, size), "fp32": matmul_tflops(device, torch.float32, size)}
    report = BenchReport(
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        torch=torch.__version__, cpu_threads=torch.get_num_threads(), batch_size=config.batch_size, matmul_tflops=rates,
        config={k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
    )
    images = training_batch(config.batch_size, device, input_size(config.encoder))
    with tempfile.TemporaryDirectory(prefix="invertnet-bench-runs-") as out:
        for layer in config.timed_layers:
            on_progress(f"training step {layer}")
            report.train.append(bench_training(config, layer, images, rates, Path(out)))
    gc.collect()  # the trainers (a captured step holds a cycle): loader processes forked later must not inherit CUDA graphs
    on_progress(f"invert {config.inverted_layer}")
    report.invert = bench_invert(config, device)
    workers = default_workers(device) if config.workers is None else config.workers
    on_progress("data pipeline")
    synthetic = pipeline_images_per_s(DeadLeaves("train"), config.batch_size, config.pipeline_batches, device)
    with jpeg_folder(config) as folder:
        jpeg = pipeline_images_per_s(folder, config.batch_size, config.pipeline_batches, device, workers)
        nvjpeg = pipeline_images_per_s(folder, config.batch_size, config.pipeline_batches, device, workers, gpu_decode=True) if device.type == "cuda" else None
        described = config.data or f"{len(folder)} generated 500x375 JPEGs"
    report.pipeline = PipelineResult(workers, synthetic, jpeg, described, nvjpeg)
    return report
