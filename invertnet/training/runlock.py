"""One training process per run folder: an exclusive lock on ``RUN/.lock`` while a run trains.

Two ``train`` commands into one ``--out`` would interleave ``metrics.jsonl`` and overwrite
each other's checkpoints; the second is refused at once instead (see :mod:`invertnet.files.locks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..files.locks import exclusive

LOCK_NAME = ".lock"


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the run folder's lock for the duration; raise at once if another process holds it."""
    busy = f"another invertnet train is running in {folder}: wait for it, or choose another --out"
    with exclusive(folder / LOCK_NAME, "the run's lock", busy=busy):
        yield
