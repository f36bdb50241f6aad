"""Scores from outside the process: a recording rig, a model in another environment, a person.

Both protocols hand over a whole generation as PNG files ``000.png``, ``001.png``, ... (the generator's output,
clipped to [0, 1], at its own size) in a folder of its own, and read back one number per image, in file-name order:

- :class:`CommandScore` (``--score-command CMD``) runs CMD with the folder's path as its last argument (no shell:
  the command line is split as a POSIX shell would, then run directly) and reads the numbers from its standard
  output, one per line (blank lines are skipped). A non-zero exit, a timeout, a wrong count, a word that is not a
  number, or NaN/infinity ends the search with one error that says which.
- :class:`FolderScore` (``--score-folder DIR``) is for rigs that cannot be called: generation N's images appear
  as ``DIR/gen_NNNN/`` (written under a temporary name, then renamed, so the folder is complete when it appears),
  and the search waits for ``DIR/gen_NNNN/scores.txt`` in the same format. The rig should write that file under
  another name and rename it (an atomic step), so a half-written file is never read.

Either raises :class:`~invertnet.errors.InvertnetError`; the search then saves the generations so far.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from ..data.imageio import save_image
from ..errors import InvertnetError
from ..files.guarded import open_input

SCORES_NAME = "scores.txt"
MAX_SCORES_BYTES = 1 << 20
"""A generation's scores: one number per line, a few thousand lines at most; more is not a scores file."""
POLL_S = 0.2
MAX_IMAGE_BYTES = 1 << 26
"""A generation's PNG: a few hundred kilobytes at the generators' sizes; 64 MiB is no image of ours."""


def generation_folder(root: Path, generation: int) -> Path:
    """Where generation ``generation`` (from 0) of a search keeps its images under ``root``: ``root/gen_NNNN``."""
    return root / f"gen_{generation:04d}"


def _check_timeout(timeout: float) -> None:
    if not (timeout > 0 and math.isfinite(timeout)):
        raise InvertnetError(f"--score-timeout must be a positive number of seconds, got {timeout}")


def image_name(index: int) -> str:
    """The file name of a generation's image ``index`` (from 0): ``000.png``, ... (more digits past 999)."""
    return f"{index:03d}.png"


def write_generation(images: torch.Tensor, folder: Path) -> list[Path]:
    """Each image (N, 3, S, S) clipped to [0, 1], as ``folder/000.png``, ... in order."""
    folder.mkdir(parents=True, exist_ok=True)
    return [save_image(image.detach().clamp(0, 1).cpu(), folder / image_name(index)) for index, image in enumerate(images)]


def parse_scores(text: str, count: int, source: str) -> torch.Tensor:
    """One finite number per non-blank line, exactly ``count`` of them; ``source`` names where they came from in errors."""
    words = [line.strip() for line in text.splitlines() if line.strip()]
    if len(words) != count:
        raise InvertnetError(f"{source} gave {len(words)} scores for {count} images: one number per line, in file-name order")
    values = []
    for number, word in enumerate(words, 1):
        try:
            value = float(word)
        except ValueError:
            raise InvertnetError(f"{source}: line {number} is {word[:40]!r}, not a number") from None
        if not math.isfinite(value):
            raise InvertnetError(f"{source}: the score of {image_name(number - 1)} is {word}: scores must be finite numbers")
        values.append(value)
    return torch.tensor(values, dtype=torch.float64)


def _contents(path: Path) -> bytes:
    """An image file's bytes, read through invertnet.files (a regular file of bounded size)."""
    with open_input(path, "a generation's image", max_bytes=MAX_IMAGE_BYTES) as handle:
        return handle.read()


class CommandScore:
    """Scores from a command run once per generation on a folder of its images (module docstring: the protocol).

    ``keep``: the folder in which each generation's folder is kept (``gen_NNNN``); None: a temporary folder,
    deleted once scored."""

    whole_generation = True

    def __init__(self, command: str, timeout: float, keep: Path | None = None) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as error:
            raise InvertnetError(f"--score-command {command!r}: {error}") from None
        if not self.argv:
            raise InvertnetError("--score-command is empty: give the scorer's command line")
        if shutil.which(self.argv[0]) is None:
            raise InvertnetError(f"--score-command: {self.argv[0]!r} is not a command found on PATH or a runnable file")
        _check_timeout(timeout)
        self.command, self.timeout, self.keep = command, timeout, keep
        self.generation = 0

    def describe(self) -> str:
        return f"command: {self.command}"

    def folder(self, generation: int) -> Path:
        """Where generation ``generation``'s images are kept (``keep`` given)."""
        assert self.keep is not None
        return generation_folder(self.keep, generation)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        generation, self.generation = self.generation, self.generation + 1
        if self.keep is not None:
            return self._score(images, self.folder(generation), generation)
        with tempfile.TemporaryDirectory(prefix="invertnet-scores-") as folder:
            return self._score(images, Path(folder), generation)

    def _score(self, images: torch.Tensor, folder: Path, generation: int) -> torch.Tensor:
        write_generation(images, folder)
        where = f"--score-command (generation {generation + 1})"
        try:
            done = subprocess.run([*self.argv, str(folder)], capture_output=True, timeout=self.timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise InvertnetError(f"{where} did not finish in {self.timeout:g} s (--score-timeout)") from None
        except OSError as error:
            raise InvertnetError(f"{where} could not be run: {error}") from None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            said = ("; it said: " + " | ".join(tail)) if tail else ""
            raise InvertnetError(f"{where} exited with status {done.returncode}{said}")
        if len(done.stdout) > MAX_SCORES_BYTES:
            raise InvertnetError(f"{where} wrote {len(done.stdout):,} bytes: one number per image was expected")
        return parse_scores(done.stdout.decode(errors="replace"), len(images), where)


class FolderScore:
    """Scores from a rig that watches ``root``: each generation's images appear as ``root/gen_NNNN/`` and its scores
    are read from ``root/gen_NNNN/scores.txt`` once it appears (module docstring: the protocol)."""

    whole_generation = True

    def __init__(self, root: Path, timeout: float) -> None:
        if root.exists() and not root.is_dir():
            raise InvertnetError(f"--score-folder {root} exists and is not a folder")
        _check_timeout(timeout)
        self.root, self.timeout = root, timeout
        self.generation = 0

    def describe(self) -> str:
        return f"folder: {self.root}"

    def folder(self, generation: int) -> Path:
        """Where generation ``generation``'s images appear for the rig."""
        return generation_folder(self.root, generation)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        generation, self.generation = self.generation, self.generation + 1
        folder = self.folder(generation)
        if folder.exists():  # a resumed search: the interrupted generation's images, if they are these very images
            self._check_same(images, folder)
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".gen_{generation:04d}.", dir=self.root))
            write_generation(images, staging)
            os.replace(staging, folder)
        return self._wait(folder, len(images), generation)

    def _check_same(self, images: torch.Tensor, folder: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="invertnet-check-") as scratch:
            for ours in write_generation(images, Path(scratch)):
                theirs = folder / ours.name
                if not theirs.is_file() or _contents(theirs) != _contents(ours):
                    raise InvertnetError(
                        f"{folder} exists but holds other images than this generation's ({ours.name}): "
                        "is it another search's? Give a fresh --score-folder"
                    )

    def _wait(self, folder: Path, count: int, generation: int) -> torch.Tensor:
        path, deadline = folder / SCORES_NAME, time.monotonic() + self.timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise InvertnetError(f"no {path} after {self.timeout:g} s (--score-timeout): the rig did not score generation {generation + 1}")
            time.sleep(POLL_S)
        with open_input(path, "a scores file", max_bytes=MAX_SCORES_BYTES) as handle:
            text = handle.read().decode(errors="replace")
        return parse_scores(text, count, str(path))
