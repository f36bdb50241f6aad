"""One training process per run folder: an exclusive lock on ``RUN/.lock`` while a run trains.

Two ``train`` commands into one ``--out`` would interleave ``metrics.jsonl`` and overwrite
each other's checkpoints; the second is refused at once instead. The lock is advisory
(``flock``), released by the kernel when the process ends however it ends, so a killed run
never leaves a stale lock behind. Platforms without ``fcntl`` train unlocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvertnetError
from ..files.guarded import open_append

LOCK_NAME = ".lock"


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the run folder's lock for the duration; raise at once if another process holds it."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open_append(folder / LOCK_NAME, "the run's lock") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvertnetError(f"another invertnet train is running in {folder}: wait for it, or choose another --out") from None
        yield
