"""What a search leaves on disk as it goes, so that nothing scored is lost: its state after each generation (to resume
a stopped search exactly), every image scored with its score (``--keep-all``), and the best code (``.npy``).

The state file is safetensors (tensors only, nothing unpickled), written atomically after each generation; its
metadata ``invertnet.search`` holds the settings that decide the search (JSON), which a resume must match. The
scores CSV has the columns :data:`CSV_COLUMNS`, a row per image scored, appended a generation at a time.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import InvertnetError
from ..files.atomic import atomic_path
from ..files.guarded import check_input, open_input
from .external import generation_folder, image_name, write_generation
from .search import State

SETTINGS_KEY = "invertnet.search"
MAX_CSV_BYTES = 1 << 32
"""A scores CSV: about 100 bytes a row, so 4 GiB is tens of millions of images scored."""
CSV_COLUMNS = ("unit", "generation", "index", "score", "file")
"""``unit``: the target's unit (empty for a score from outside); ``generation`` and ``index`` from 0; ``file``: the image."""


def save_state(path: Path, state: State, settings: dict[str, object]) -> None:
    """The search's ``state`` and the ``settings`` it must be resumed with, atomically."""
    tensors = {name: value.detach().cpu().contiguous() for name, value in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", SETTINGS_KEY: json.dumps(settings, sort_keys=True, allow_nan=False)})


def load_state(path: Path, settings: dict[str, object]) -> State:
    """The state saved at ``path``, if it was saved with these ``settings`` (``iterations`` may differ: a resume may extend)."""
    check_input(path, "the search's saved state")
    try:
        with safe_open(str(path), framework="pt") as handle:
            saved = json.loads((handle.metadata() or {}).get(SETTINGS_KEY, "null"))
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, RecursionError) as error:
        raise InvertnetError(f"{path} is not a readable search state: {error}") from None
    if not isinstance(saved, dict):
        raise InvertnetError(f"{path} is not a search state invertnet wrote (no {SETTINGS_KEY} metadata)")
    differ = sorted(key for key in {*saved, *settings} - {"iterations"} if saved.get(key) != settings.get(key))
    if differ:
        shown = "; ".join(f"{key}: saved {saved.get(key)!r}, now {settings.get(key)!r}" for key in differ)
        raise InvertnetError(f"{path} is the state of another search ({shown}): run the command that made it, with --resume")
    return state


class ScoreLog:
    """Every image a search scores and its score: a CSV row each, the images written under ``images`` unless the scorer
    already keeps them (``files``: generation -> the scorer's folder of that generation)."""

    def __init__(self, path: Path, images: Path | None, unit: int | None = None, files: Callable[[int], Path] | None = None) -> None:
        self.path, self.images, self.unit, self.files = path, images, unit, files

    def start(self, done: int = 0) -> None:
        """A fresh CSV (header only), or on a resume the rows of the ``done`` generations the state holds (a generation
        scored after the last saved state is scored again, so its rows would be there twice)."""
        rows: list[list[str]] = []
        if done and self.path.is_file():
            with open_input(self.path, "the scores CSV", max_bytes=MAX_CSV_BYTES) as handle:
                lines = io.TextIOWrapper(handle, encoding="utf-8", errors="replace", newline="")
                rows = [row for row in list(csv.reader(lines))[1:] if len(row) == len(CSV_COLUMNS) and row[1].isdigit() and int(row[1]) < done]
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(rows)

    def __call__(self, generation: int, codes: torch.Tensor, images: torch.Tensor, scores: torch.Tensor) -> None:
        if self.files is not None:
            folder = self.files(generation)
        else:
            assert self.images is not None
            folder = generation_folder(self.images / (f"unit_{self.unit}" if self.unit is not None else ""), generation)
            write_generation(images, folder)
        with open(self.path, "a", newline="") as handle:
            writer = csv.writer(handle)
            for index, score in enumerate(scores.tolist()):
                writer.writerow(["" if self.unit is None else self.unit, generation, index, repr(float(score)), os.fspath(folder / image_name(index))])
            handle.flush()
