"""A run's generator as a file of its own (``invertnet weights export``), so a finished run folder can be deleted.

A run folder holds the training checkpoint (the generator, the discriminator and Adam's moments: about three
times the generator) and the generator alone. The export takes the newer of the two (the checkpoint, where a
run was killed between the two writes), checks it (it rebuilds, every weight finite) and writes the generator's
tensors with the metadata that rebuilds it; the optimiser state and the resume state are left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InvertnetError
from ..files.guarded import is_present
from ..inversion import generator_from_checkpoint
from ..names import INVERTER
from ..weights.checkpoint import CHECKPOINT_NAME, GENERATOR_NAME, Checkpoint, atomic_save, load_checkpoint, read_metadata

TRAINING_ONLY = ("format", "invertnet.kind", "invertnet.state", "invertnet.optim.")
"""Metadata a checkpoint holds that a generator file does not (the optimisers', the resume state; ``format`` and
``kind`` are written anew): everything else (layer, encoder, geometry, config, step, origin) is kept."""


@dataclass(frozen=True)
class Export:
    """What :func:`export_generator` wrote: the file, where it came from, the step, its size and the run folder's size."""

    path: Path
    source: Path
    step: int
    bytes: int
    run_bytes: int


def _step(path: Path) -> int:
    step = read_metadata(path).get("invertnet.step", "0")
    return int(step) if step.isdigit() else -1


def newest_generator(run: str | os.PathLike[str]) -> Path:
    """The file of ``run`` (a run folder, or a checkpoint or generator file) that holds its newest generator."""
    run = Path(run)
    if not run.is_dir():
        if not run.exists():
            raise InvertnetError(f"{run} not found: give a run folder (train --out) or a checkpoint file")
        return run
    present = [run / name for name in (GENERATOR_NAME, CHECKPOINT_NAME) if is_present(run / name, "the run's", f" from {run}")]
    if not present:
        raise InvertnetError(f"{run} holds no {GENERATOR_NAME} or {CHECKPOINT_NAME}: is it a run folder (train --out)?")
    return max(present, key=_step)  # on a tie the generator file (listed first), which is the smaller read


def _check(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """The generator's tensors, checked: present, finite, and (for an inverter) loadable into its architecture."""
    tensors = {name: value for name, value in checkpoint.tensors.items() if name.startswith("generator.")}
    if not tensors:
        raise InvertnetError(f"{checkpoint.path} holds no generator weights")
    if not all(torch.isfinite(value).all() for value in tensors.values() if value.is_floating_point()):
        raise InvertnetError(f"{checkpoint.path}: the generator has NaN or infinite weights (a run that diverged?); nothing exported")
    if checkpoint.model == INVERTER:
        generator_from_checkpoint(checkpoint, checkpoint.geometry)  # raises, naming the file, if the weights do not fit
    return tensors


def export_generator(run: str | os.PathLike[str], out: str | os.PathLike[str]) -> Export:
    """Write the newest generator of ``run`` to ``out`` (a ``.safetensors`` file), checked, without the training state."""
    out = Path(out)
    if out.suffix != ".safetensors":
        raise InvertnetError(f"out {out}: the file name must end in .safetensors")
    source = newest_generator(run)
    if out.exists() and out.resolve() == source.resolve():
        raise InvertnetError(f"out {out} is the file exported from: name another")
    checkpoint = load_checkpoint(source)
    tensors = _check(checkpoint)
    metadata = {key: value for key, value in checkpoint.metadata.items() if not key.startswith(TRAINING_ONLY)}
    atomic_save(tensors, {**metadata, "invertnet.kind": "generator"}, out)
    folder = Path(run) if Path(run).is_dir() else None
    run_bytes = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) if folder else source.stat().st_size
    return Export(out, source, checkpoint.step, out.stat().st_size, run_bytes)
