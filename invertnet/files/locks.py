"""Exclusive locks across processes, for files more than one invertnet may change at once.

A read-modify-write of a shared file (the cache's record of first-use hashes) loses entries
when two processes interleave: each reads the old record, adds its own, and the last rename
wins. A run folder must have one training process. Both hold an advisory ``flock`` on a lock
file beside what they guard, which the kernel releases when the process ends however it
ends, so a killed process never leaves a stale lock. Platforms without ``fcntl`` (Windows)
run unlocked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvertnetError
from .guarded import open_append


@contextmanager
def exclusive(path: str | os.PathLike[str], what: str, *, busy: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if absent; a symlink or a special file is refused) for the block.

    Waits for another holder to finish, or with ``busy`` raises that message at once instead.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open_append(path, what) as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (fcntl.LOCK_NB if busy is not None else 0))
        except BlockingIOError:
            raise InvertnetError(busy or f"{what} {path} is held") from None
        yield
