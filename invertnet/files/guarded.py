"""Opening the files invertnet reads from elsewhere: regular files only, bounded, never blocking.

Weights, caches, archives, run folders and records are hostile input, like images. A FIFO
would block the process on ``open`` until a writer comes; a symlink to ``/dev/zero`` would be
hashed or read forever; a file far larger than what it claims to be would fill the memory.
Every file invertnet reads goes through :func:`open_input` (or :func:`check_input` for
libraries that take a path), which opens without blocking, checks the open file itself
(``fstat``, so a swap between a check and the open cannot fool it), and refuses anything but
a regular file, or one over its size bound, with one clear error. Files invertnet appends to
inside a run folder (the lock, the metrics) go through :func:`open_append`, which never
follows a symlink out of the folder. A test (``tests/files/test_guarded.py``) fails on any other
``open`` in the package, so the next new file type cannot forget it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, TextIO

from ..errors import InvertnetError

KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _kind(mode: int) -> str:
    return KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _checked(fd: int, path: Path, what: str, max_bytes: int | None) -> int:
    """The size of the open file ``fd``; closed and refused unless it is a regular file of at most ``max_bytes``."""
    info = os.fstat(fd)
    problem = ""
    if not stat.S_ISREG(info.st_mode):
        problem = f"is {_kind(info.st_mode)}, not a regular file"
    elif max_bytes is not None and info.st_size > max_bytes:
        problem = f"holds {info.st_size:,} bytes, more than {what} can be ({max_bytes:,})"
    if problem:
        os.close(fd)
        raise InvertnetError(f"{what} {path} {problem}")
    return info.st_size


def open_input(path: str | os.PathLike[str], what: str, *, max_bytes: int | None = None) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file (through symlinks) of at most ``max_bytes``.

    ``what`` names the file in errors ("checkpoint", "the AlexNet weights"...). A FIFO is opened
    without waiting for a writer, then refused like a device, a socket or a folder.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InvertnetError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise InvertnetError(f"{what} {path} is a folder, not a file") from None
    except OSError as error:
        raise InvertnetError(f"cannot open {what} {path}: {error.strerror or error}") from None
    _checked(fd, path, what, max_bytes)
    if NONBLOCK:
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def is_present(path: str | os.PathLike[str], what: str, hint: str = "") -> bool:
    """Whether a regular file (or a link to one) is at ``path``: False where nothing is; an error naming it where
    something else is (a folder, a FIFO, a device, a link to nothing), which a lookup must not pass over in silence.
    ``hint`` ends the error (what else the user can do)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode  # stat, not open: a FIFO is named without waiting for a writer
    except FileNotFoundError:
        if not os.path.lexists(path):
            return False
        problem = "is a link to nothing"
    except OSError as error:
        problem = f"cannot be read ({error.strerror or error})"
    else:
        if stat.S_ISREG(mode):
            return True
        problem = f"is {_kind(mode)}, not a regular file"
    raise InvertnetError(f"{what} {path} {problem}: remove it{hint}")


def check_input(path: str | os.PathLike[str], what: str, *, max_bytes: int | None = None) -> int:
    """The size of ``path`` after the checks of :func:`open_input`, for a library that opens the path itself."""
    with open_input(path, what, max_bytes=max_bytes) as handle:
        return os.fstat(handle.fileno()).st_size


def read_input(path: str | os.PathLike[str], what: str, *, max_bytes: int) -> bytes:
    """The bytes of ``path`` (checked as by :func:`open_input`), never more than ``max_bytes`` read, even if it grows."""
    with open_input(path, what, max_bytes=max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvertnetError(f"{what} {path} grew past {max_bytes:,} bytes while it was read")
    return data


def read_text_input(path: str | os.PathLike[str], what: str, *, max_bytes: int) -> str:
    """:func:`read_input` decoded as UTF-8, or one clear error."""
    try:
        return read_input(path, what, max_bytes=max_bytes).decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvertnetError(f"{what} {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def open_append(path: str | os.PathLike[str], what: str) -> TextIO:
    """``path`` opened for appending text, created if absent; refused if it is a symlink or not a regular file.

    For files invertnet keeps inside a folder it owns (a run's lock and metrics): a symlink
    there must not make invertnet create or write a file elsewhere.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NONBLOCK | NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as error:
        if path.is_symlink():
            raise InvertnetError(f"{what} {path} is a symlink: invertnet writes it only as a regular file in its folder") from None
        if os.path.exists(path):
            raise InvertnetError(f"{what} {path} is {_kind(os.stat(path).st_mode)}, not a regular file") from None
        raise InvertnetError(f"cannot write {what} {path}: {error.strerror or error}") from None
    _checked(fd, path, what, None)
    if NONBLOCK:
        os.set_blocking(fd, True)
    return os.fdopen(fd, "a", encoding="utf-8")
