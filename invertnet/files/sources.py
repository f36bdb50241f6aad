"""Files from elsewhere that can be had from several places, tried in order, each checked.

A :class:`Source` is one place a file can be downloaded from (a URL), the name it has in
torch.hub's cache (``$TORCH_HOME/hub/checkpoints``), and how it is checked: against a
published SHA-1 (the Caffe model zoo's), or trust on first use: the SHA-256 of the first copy
that worked is recorded in the cache's ``invertnet-sources.json`` (URL -> SHA-256) and every
later copy from that URL must match it, so a file that changes upstream or in the cache is
noticed. Each source keeps its own record.

:func:`first_usable` goes through a model's sources: first those already in the cache (no
download when any works), then downloads in order, falling back to the next source when one
fails (unreachable, not the expected file, changed since first seen). A bad download is
removed; a bad cached file is left for the user and named. When none works, one error says
for every source its URL, the exact path to put its file at by hand, and why it failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from ..errors import InvertnetError
from .atomic import atomic_path
from .downloads import OFFLINE_ENV, cache_dir, download, file_hash, offline
from .guarded import read_text_input
from .locks import exclusive

SOURCES_FILE = "invertnet-sources.json"
"""In the cache: the SHA-256 of each download the first time it was used (URL -> hex)."""
MAX_RECORD_BYTES = 1 << 20
HEX = set("0123456789abcdef")
T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """One place a file can be had: ``name`` (``hf``, ``release``, ``zoo``), its URL, its name in the cache, its check."""

    name: str
    url: str
    filename: str
    sha1: str | None = None
    """The published SHA-1 the file must have; None: trust on first use (its SHA-256 is recorded)."""

    @property
    def path(self) -> Path:
        """Where the file is looked for and downloaded to (the folder follows TORCH_HOME)."""
        return cache_dir() / self.filename

    def by_hand(self) -> str:
        return f"{self.url} at {self.path}"


def recorded() -> dict[str, str]:
    """URL -> the SHA-256 recorded when a file from it was first used (empty when nothing was recorded yet).

    A damaged record fails closed: it is refused, with how to reset it, rather than read as
    empty (which would trust any file as if it were new).
    """
    path = cache_dir() / SOURCES_FILE
    if not path.exists() and not path.is_symlink():
        return {}
    reason, value = "", None
    try:
        value = json.loads(read_text_input(path, "the record", max_bytes=MAX_RECORD_BYTES))
    except InvertnetError as error:
        reason = str(error)
    except (ValueError, RecursionError) as error:
        reason = str(error) or type(error).__name__
    if not reason and not (
        isinstance(value, dict) and all(isinstance(digest, str) and len(digest) == 64 and set(digest) <= HEX for digest in value.values())
    ):
        reason = "not a map of URLs to SHA-256 digests"
    if reason:
        raise InvertnetError(f"{path}, the record of each download's SHA-256 when first used, is damaged ({reason}): "
                             "delete it to trust the next copy of each file afresh")
    return value  # type: ignore[return-value]


def record(url: str, digest: str) -> None:
    """Remember ``digest`` as the SHA-256 of the file from ``url``: read, add and replace under the record's lock, so
    that processes recording at once keep every entry (a lost one would let a swapped file be trusted as new)."""
    with exclusive(cache_dir() / f".{SOURCES_FILE}.lock", "the record's lock"):
        values = {**recorded(), url: digest}
        with atomic_path(cache_dir() / SOURCES_FILE) as tmp:
            tmp.write_text(json.dumps(values, indent=2, sort_keys=True, allow_nan=False) + "\n")


def check(source: Source, path: Path, expected: str | None) -> tuple[str, str]:
    """(why the file at ``path`` is not what ``source`` serves or "", its SHA-256 for a source trusted on first use, else "").

    ``expected``: the SHA-256 recorded for the source's URL, None if nothing was recorded yet.
    """
    if not path.is_file():
        return f"{path} is not a regular file", ""
    if source.sha1 is not None:
        return ("" if file_hash(path, "sha1") == source.sha1 else f"its SHA-1 is not the published {source.sha1}"), ""
    digest = file_hash(path)
    if expected is not None and digest != expected:
        return f"its SHA-256 differs from the {expected[:16]}... recorded when it was first used", digest
    return "", digest


@dataclass(frozen=True)
class Found(Generic[T]):
    """What :func:`first_usable` returns: the source that worked, what its file loaded as, and the file's SHA-256 (TOFU sources)."""

    source: Source
    value: T
    sha256: str


def use(source: Source, what: str, load: Callable[[Source, Path], T], *, fresh: bool) -> Found[T]:
    """``load`` the source's file (downloaded first when ``fresh``), checked; a fresh download that fails a check is removed."""
    path = source.path
    if fresh:
        download(source.url, path, what=what, where="")  # the error that lists every source says where to put it
    try:
        expected = recorded().get(source.url) if source.sha1 is None else None
    except InvertnetError:  # the record of first-seen hashes is damaged: nothing is trusted, a new download is not kept
        if fresh:
            path.unlink(missing_ok=True)
        raise
    problem, digest = check(source, path, expected)
    value: T | None = None
    if not problem:
        try:
            value = load(source, path)
        except InvertnetError as error:
            problem = str(error)
    if problem:
        if fresh:
            path.unlink(missing_ok=True)
            raise InvertnetError(f"the download is not {what} ({problem}); removed it")
        raise InvertnetError(f"{path} is not usable ({problem}): delete it to download it again")
    if source.sha1 is None and expected is None:
        record(source.url, digest)
    return Found(source, value, digest)  # type: ignore[arg-type]


def first_usable(sources: list[Source], what: str, load: Callable[[Source, Path], T], hint: str = "") -> Found[T]:
    """The first source whose file loads: cached files first, then downloads in order; one error naming every source if none does."""
    failures: list[tuple[str, str]] = []
    cached = [source for source in sources if source.path.exists()]
    for source in cached:
        try:
            return use(source, what, load, fresh=False)
        except InvertnetError as error:
            failures.append((source.name, str(error)))
    to_download = [] if offline() else [source for source in sources if source not in cached]
    for source in to_download:
        try:
            return use(source, what, load, fresh=True)
        except InvertnetError as error:
            failures.append((source.name, str(error)))
            if source is not to_download[-1]:
                print(f"invertnet: {source.name} failed ({error}); trying the next source", file=sys.stderr)
    state = f"is not in the cache and {OFFLINE_ENV} is set" if offline() and not cached else "could not be had"
    raise InvertnetError(
        f"{what} {state}; put {'one of these files' if len(sources) > 1 else 'this file'} there by hand (the folder follows TORCH_HOME)",
        [*(f"{name} failed: {' '.join(error.split())}" for name, error in failures), *by_hand(sources), *([hint] if hint else [])],
    )


def by_hand(sources: list[Source]) -> list[str]:
    """Each source as two lines of an error's details: its name and URL, then where its file goes."""
    return [line for source in sources for line in (f"{source.name}: {source.url}", f"    at {source.path}")]
