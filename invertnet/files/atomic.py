"""Writing files so that a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvertnetError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, sync it and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp")  # a long name must not overflow 255 bytes
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_not_input(target: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]], *, flag: str = "--out") -> None:
    """Refuse an output that is one of the command's inputs, by any path to it (a symlink, a hard link, ``./x``).

    The one check every writing command makes: invertnet never overwrites what it reads.
    """
    for source in inputs:
        same = os.path.realpath(target) == os.path.realpath(source)
        if not same and os.path.exists(target) and os.path.exists(source):
            same = os.path.samefile(target, source)
        if same:
            raise InvertnetError(f"{flag} {target} is the input {source}: invertnet never overwrites an input; choose another {flag}")


def check_writable(path: str | os.PathLike[str], *, folder: bool = False, flag: str = "") -> None:
    """Refuse, before any work starts, an output that could not be written when the work ends.

    ``path`` is a file to create or replace (a folder with ``folder=True``, created if need
    be): it must not be a folder (a file), and the nearest existing folder above it must be
    a folder this process may write in (not read-only, not a file).
    """
    path = Path(path)
    name = f"{flag} {path}" if flag else str(path)
    if folder and path.exists() and not path.is_dir():
        raise InvertnetError(f"{name} is a file, not a folder")
    if not folder and path.is_dir():
        raise InvertnetError(f"{name} is a folder, not a file")
    existing = path if folder else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InvertnetError(f"{name}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvertnetError(f"{name}: cannot write in {existing} (read-only, or no permission)")
