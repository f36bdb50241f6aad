"""Learning curves from run folders' ``metrics.jsonl`` (``invertnet plot``): a panel per quantity, a line per run.

The loss terms are shown weighted by default (``img_weighted``, what the console shows and what sums to
the loss), raw with ``raw=True``. A file from elsewhere is hostile input: read through the guarded
opener, bounded, and a line that is not a record (a torn last line) is skipped, as a resume does.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InvertnetError
from ..files.guarded import open_input
from .run_folder import METRICS_NAME, TERMS

QUANTITIES = {  # the keys are names.CURVE_QUANTITIES, in order (a test holds them together)
    "loss": "the generator's loss", "feat": "feature term", "adv": "adversarial term", "img": "image term", "kl": "KL term",
    "discr": "discriminator's loss", "images_per_s": "images per second", "lr": "generator's learning rate",
    "d_update_rate": "share of steps the discriminator updated",
}
"""What ``plot --quantity`` draws, with each panel's title."""
MAX_METRICS_BYTES = 1 << 30


def read_metrics(run: Path) -> list[dict[str, object]]:
    """The records of ``run/metrics.jsonl`` (``run`` may name the file itself), in order; lines that are not records skipped."""
    path = run / METRICS_NAME if run.is_dir() else run
    with open_input(path, "the run's metrics", max_bytes=MAX_METRICS_BYTES) as handle:
        lines = handle.read().decode("utf-8", "replace").splitlines()
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    if not records:
        raise InvertnetError(f"{path} holds no metrics records (a run that has not logged yet?)")
    return records


def learning_curves(runs: list[Path], quantities: list[str] | None = None, raw: bool = False) -> list[tuple[str, dict[str, list[tuple[float, float]]]]]:
    """(panel title, run name -> (step, value) points) for each quantity; by default the loss and every term the runs log."""
    unknown = [q for q in quantities or [] if q not in QUANTITIES]
    if unknown:
        raise InvertnetError(f"unknown quantity {unknown[0]!r}: choose from {', '.join(QUANTITIES)}")
    records = {_name(run, runs): read_metrics(run) for run in runs}
    if len(records) < len(runs):
        raise InvertnetError("two of the runs have the same name in the legend: pass each run once")
    logged = {key for rows in records.values() for row in rows for key in row}
    chosen = quantities or ["loss", *(term for term in TERMS if term in logged)]
    panels = []
    for quantity in chosen:
        key = f"{quantity}_weighted" if quantity in TERMS and not raw else quantity
        if quantity in TERMS and not raw and not any(key in row for rows in records.values() for row in rows):
            key = quantity  # metrics.jsonl from before the weighted terms were logged
        lines = {name: [(float(row["step"]), float(row[key])) for row in rows if isinstance(row.get(key), (int, float))]  # type: ignore[arg-type]
                 for name, rows in records.items()}
        if not any(lines.values()):
            raise InvertnetError(f"no run logs {quantity!r}: these runs log {', '.join(sorted(k for k in logged if k in QUANTITIES))}")
        weighting = " (weighted)" if key.endswith("_weighted") else " (raw)" if quantity in TERMS else ""
        panels.append((f"{QUANTITIES[quantity]}{weighting}", lines))
    return panels


def _name(run: Path, runs: list[Path]) -> str:
    """A run's name in the legend: its folder (a metrics file of another name: its stem), with the parent's when two share it."""
    def short(path: Path) -> str:
        return path.name if path.is_dir() else path.parent.name if path.name == METRICS_NAME else path.stem

    def long(path: Path) -> str:
        folder = path if path.is_dir() else path.parent
        return f"{folder.parent.name}/{short(path)}" if path.is_dir() or path.name == METRICS_NAME else f"{folder.name}/{short(path)}"

    names = [short(r) for r in runs]
    return long(run) if names.count(short(run)) > 1 else short(run)
