"""A run folder's files: what a new run may start in, ``config.json``, ``metrics.jsonl``, the sample grids.

The folder of a run holds ``checkpoint.safetensors`` and ``generator.safetensors`` (written by
:mod:`invertnet.weights.checkpoint`), ``config.json`` (replaced whole at every start),
``metrics.jsonl`` (one JSON record per log window, appended; on resume cut back to the
checkpoint's step, a line torn by a crash dropped), ``samples/step_NNNNNNN.png`` and ``.lock``
(:mod:`invertnet.training.runlock`). Only the main process writes here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from ..data.datasets import SYNTHETIC
from ..errors import InvertnetError
from ..files.atomic import atomic_path, check_writable
from ..files.guarded import open_append, open_input
from ..weights.checkpoint import CHECKPOINT_NAME, GENERATOR_NAME, atomic_save
from . import distributed
from .config import TrainConfig
from .step import DeePSiMStep, StepValues

METRICS_NAME = "metrics.jsonl"
CONFIG_NAME = "config.json"
SAMPLES = "samples"


def check_new_run(out: Path, data: str) -> None:
    """Refuse, before anything is built, a folder a new run cannot start in (nothing of an earlier run may be lost)."""
    if out.exists() and not out.is_dir():
        raise InvertnetError(f"--out {out} is a file: the run needs a folder")
    if (out / CHECKPOINT_NAME).exists():
        raise InvertnetError(f"{out / CHECKPOINT_NAME} exists: pass --resume to continue that run, or choose another --out")
    check_writable(out, folder=True, flag="--out")
    check_outside_data(out, data)
    if (out / GENERATOR_NAME).exists():
        raise InvertnetError(
            f"{out} holds the generator of an earlier run ({GENERATOR_NAME}) but no {CHECKPOINT_NAME} to resume: "
            "choose another --out, or move that run away"
        )


def check_outside_data(out: Path, data: str) -> None:
    """Refuse a run folder that is the data folder or inside it: its samples would become training images, its files inputs."""
    if data == SYNTHETIC or not Path(data).is_dir():
        return
    if Path(os.path.realpath(out)).is_relative_to(os.path.realpath(data)):
        raise InvertnetError(f"--out {out} would put the run in --data {data}: its sample images would be read as training images, "
                             "and invertnet never writes into its inputs; choose a folder outside the data")


def prepare(out: Path, config: dict[str, object], step: int) -> None:
    """Make the folder, clear half-done writes a killed process left, write ``config.json``, cut the metrics back to ``step``."""
    out.mkdir(parents=True, exist_ok=True)
    for folder in (out, out / SAMPLES):  # writes a killed process left half done: ours, and safetensors' own
        for stale in [*folder.glob(".*.tmp"), *folder.glob(".tmp*")]:
            stale.unlink(missing_ok=True)
    with atomic_path(out / CONFIG_NAME) as tmp:  # replaces whatever is there (a FIFO would block a plain write)
        tmp.write_text(json.dumps(config, indent=2, allow_nan=False) + "\n")
    truncate_metrics(out, step)


def truncate_metrics(out: Path, step: int) -> None:
    """Keep the records up to ``step`` (the checkpoint's); drop a line torn by a crash or a full disk."""
    path = out / METRICS_NAME
    if not path.exists() and not path.is_symlink():
        return
    kept = []
    with open_input(path, "the run's metrics") as handle:
        lines = [line.decode("utf-8", "replace").rstrip("\n") for line in handle]
    for line in lines:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
            kept.append(line)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in kept))


def append_metrics(out: Path, record: dict[str, object]) -> None:
    """Add one record to ``metrics.jsonl`` (never through a symlink, never blocking on a FIFO)."""
    with open_append(out / METRICS_NAME, "the run's metrics") as handle:
        handle.write(json.dumps(record, allow_nan=False) + "\n")


def sample_path(out: Path, step: int) -> Path:
    """Where the sample grid of ``step`` goes."""
    return out / SAMPLES / f"step_{step:07d}.png"


TERMS = ("feat", "adv", "img", "kl")
"""The generator's loss terms: ``metrics.jsonl`` has each raw (eq. 2-5, 8) and times its weight (``NAME_weighted``), which sum to ``loss``."""
METRICS_SCHEMA_VERSION = 1
"""docs/outputs.md describes this version of ``metrics.jsonl`` (each record's ``schema_version``)."""


def metrics_record(window: list[StepValues], elapsed: float, step: int, config: TrainConfig, skipped: int, update: DeePSiMStep) -> dict[str, object]:
    """The ``metrics.jsonl`` record of a log window: the mean of each loss term, the gate's updates, the speed, the sync check."""
    keys = window[-1].values.keys()
    record: dict[str, object] = {"schema_version": METRICS_SCHEMA_VERSION, "step": step, "steps": config.steps}
    record.update({k: sum(r.values[k] for r in window) / len(window) for k in keys})
    weights = update.loss.weights
    record.update({f"{term}_weighted": weights[term] * record[term] for term in TERMS if term in record})  # what the console shows
    if update.discriminator is not None:
        record["d_updated"] = window[-1].discriminator_updated
        record["d_update_rate"] = sum(bool(r.discriminator_updated) for r in window) / len(window)
    if window[-1].generator_updated is not None:
        record["g_updated"] = window[-1].generator_updated
        record["g_update_rate"] = sum(bool(r.generator_updated) for r in window) / len(window)
    record["images_per_s"] = len(window) * config.batch_size / max(elapsed, 1e-9)
    record["lr"] = float(f"{float(update.g_schedule.lr):.7g}")  # the generator's rate for its next update (a float32: 7 digits)
    if update.d_schedule is not None:
        record["d_lr"] = float(f"{float(update.d_schedule.lr):.7g}")
    record["skipped_files"] = skipped
    if update.context.distributed:
        record["processes"] = update.context.world_size
        record["in_sync"] = distributed.in_sync(update.generator, update.context) and (
            update.discriminator is None or distributed.in_sync(update.discriminator, update.context)
        )
    return record


def save(out: Path, update: DeePSiMStep, metadata: Callable[[str], dict[str, str]], state: dict[str, object]) -> Path:
    """Write the training checkpoint, then the generator file, each atomically; ``metadata(kind)`` is each file's.

    In that order, a process killed between the two leaves a checkpoint to resume from,
    never a generator without one (which a new run refuses to overwrite).
    """
    tensors, optimizers = update.state()
    generator_only = {name: value for name, value in tensors.items() if name.startswith("generator.")}
    training = {**metadata("training"), **optimizers, "invertnet.state": json.dumps(state, allow_nan=False)}
    checkpoint = atomic_save(tensors, training, out / CHECKPOINT_NAME)  # first: a run with a generator always has one
    atomic_save(generator_only, metadata("generator"), out / GENERATOR_NAME)
    return checkpoint
