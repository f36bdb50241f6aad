"""The images a command reads: files, folders (every image under them) and ``-`` (one image on stdin), listed before any work."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvertnetError
from ..names import MAX_FRAMES

if TYPE_CHECKING:
    import torch

STDIN = "-"


@dataclass(frozen=True)
class Input:
    """One image: where it is read from, and the name its result takes."""

    path: Path
    name: str


def list_inputs(images: list[str]) -> list[Input]:
    """The files behind IMAGE...: files as given, folders expanded (recursively, each real file once), ``-`` for stdin."""
    from ..data.datasets import FolderImages

    found: list[Input] = []
    for text in images:
        path = Path(text)
        if "://" in text:
            raise InvertnetError(f"{text}: invertnet reads local files; download it first (e.g. curl -O URL) and pass the file, or pipe it to -")
        if text == STDIN:
            if images.count(STDIN) > 1:
                raise InvertnetError("'-' (stdin) may be given once")
            found.append(Input(path, "stdin"))
        elif path.is_dir():
            folder = FolderImages(path)
            found += [Input(file, folder.name(i)) for i, file in enumerate(folder.files)]
        elif not path.exists():  # named now, before any generator is looked for or network loaded
            raise InvertnetError(f"image not found: {path}" + (" (a broken symbolic link)" if path.is_symlink() else ""))
        else:
            found.append(Input(path, path.stem))
    if len(found) > MAX_IMAGES:
        raise InvertnetError(f"{len(found):,} images: invertnet takes at most {MAX_IMAGES:,} at once (the inputs are held in memory); split the folder")
    return found


MAX_IMAGES = 10 * MAX_FRAMES


def read(inputs: list[Input]) -> list[torch.Tensor]:
    """Every input image, read before any network is loaded (a bad one is an error now)."""
    from ..data.imageio import load_image, read_image_stream

    return [read_image_stream(sys.stdin.buffer) if str(item.path) == STDIN else load_image(item.path) for item in inputs]


