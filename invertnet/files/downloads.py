"""Downloading weights into torch.hub's cache, with progress, a hash check and a clear offline message.

Every file invertnet fetches goes to ``$TORCH_HOME/hub/checkpoints`` (torch.hub's own cache,
shared with torchvision), through :func:`torch.hub.download_url_to_file`, which writes a
temporary file and renames it only when complete. ``INVERTNET_OFFLINE=1`` forbids downloads;
the error then names the URL and the exact path to put the file at.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import zipfile
from pathlib import Path
from typing import BinaryIO

import torch

from ..errors import InvertnetError
from .guarded import check_input, open_input

OFFLINE_ENV = "INVERTNET_OFFLINE"


def cache_dir() -> Path:
    """torch.hub's checkpoint folder (it follows ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def offline() -> bool:
    """Whether downloads are forbidden (``INVERTNET_OFFLINE`` set to anything but 0)."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def file_hash(path: str | os.PathLike[str], algorithm: str = "sha256", *, what: str = "file") -> str:
    """The hex digest of a regular file, read in blocks (a device or a FIFO is refused, not read forever)."""
    digest = hashlib.new(algorithm)
    with open_input(path, what) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, path: Path, *, what: str, where: str, hash_prefix: str | None = None) -> Path:
    """Fetch ``url`` to ``path`` with a progress bar on stderr; ``where`` tells the user how to do it by hand.

    Refused with one clear error when offline or when the download fails (or its SHA-256 does not
    start with ``hash_prefix``); a partial or bad download never appears at ``path``.
    """
    if offline():
        raise InvertnetError(f"{what} is not in the cache and {OFFLINE_ENV} is set" + (f": {where}" if where else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # torch.hub announces the download on stdout, where results go
            torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix, progress=True)
    except (OSError, RuntimeError, ValueError) as error:  # URLError is an OSError; a bad hash is a RuntimeError
        raise InvertnetError(f"cannot download {what} ({error})" + (f": {where}" if where else "")) from error
    return path


def read_state_dict(path: Path, what: str, *, max_bytes: int) -> dict[str, torch.Tensor]:
    """The tensors of a user's ``.safetensors`` or ``.pth`` file (never unpickling code), or one clear error.

    ``max_bytes`` bounds the file and, for PyTorch's zip format, what its members unpack to: a
    small file holding a compressed giant tensor is refused before anything is inflated.
    """
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            check_input(path, what, max_bytes=max_bytes)
            state = load_file(str(path))
        else:
            with open_input(path, what, max_bytes=max_bytes) as handle:
                _check_unpacked_size(handle, path, what, max_bytes)
                state = torch.load(handle, map_location="cpu", weights_only=True)
    except InvertnetError:
        raise
    except Exception as error:  # any parse failure of a user-supplied file is an input error
        raise InvertnetError(f"cannot read {what} from {path}: {error}") from error
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InvertnetError(f"{path} does not hold a state dict")
    return state


def _check_unpacked_size(handle: BinaryIO, path: Path, what: str, max_bytes: int) -> None:
    """Refuse a PyTorch zip file whose members would unpack to more than ``max_bytes`` (a compressed bomb)."""
    try:
        if not zipfile.is_zipfile(handle):  # the legacy format: no compression, bounded by the file's size
            return
        with zipfile.ZipFile(handle) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as error:
        raise InvertnetError(f"cannot read {what} from {path}: {error}") from None
    finally:
        handle.seek(0)  # torch.load reads from the start
    if unpacked > max_bytes:
        raise InvertnetError(f"{what} {path} would unpack to {unpacked:,} bytes, more than it can be ({max_bytes:,})")
