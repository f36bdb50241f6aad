"""Shared fixtures: a random-weight AlexNet, generated images, and one tiny trained run."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import torch
from PIL import Image

os.environ["INVERTNET_OFFLINE"] = "1"  # never try to download in tests
os.environ.pop("COLUMNS", None)  # tables off a terminal follow COLUMNS: a test that wants a width sets it
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))  # pytest -n N: N processes share the cores
torch.set_num_threads(max(1, min(2, torch.get_num_threads()) // WORKERS))

from invertnet import load_alexnet  # noqa: E402
from invertnet.training import TrainConfig, Trainer  # noqa: E402

ALEXNET = "random:0"


def run(capsys, *args):
    """``invertnet ARGS...`` in this process: its exit code, stdout and stderr."""
    from invertnet.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def progress_line(err: str) -> str:
    """The last step's progress line of a 2-step run, as train and the demo print it: the same fields in both."""
    line = next(line for line in err.splitlines() if line.startswith("step 2/2 "))
    assert "<" in line and "img/s" in line and " lr " in line and "(weighted)" in line
    return line


@pytest.fixture(scope="session")
def encoder():
    return load_alexnet(ALEXNET)


def write_images(folder: Path, count: int, size: tuple[int, int] = (300, 260), seed: int = 0) -> list[Path]:
    """Smooth random colour images, saved as PNG and JPEG alternately."""
    generator = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        small = torch.rand(3, 6, 6, generator=generator)
        image = torch.nn.functional.interpolate(small[None], size=(size[1], size[0]), mode="bilinear", align_corners=False)[0]
        array = (image.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
        path = folder / f"img{i:02d}.{'png' if i % 2 == 0 else 'jpg'}"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def image_files(tmp_path_factory) -> list[Path]:
    return write_images(tmp_path_factory.mktemp("images"), 4)


def session_root(tmp_path_factory) -> Path:
    """The session's temporary folder, the same for every worker of ``pytest -n N`` (above each worker's own)."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


class TempBudget:
    """Keeps ``pytest -n N`` within the README's temporary-space budget (2 GB): every test holds a shared lock;
    :meth:`alone` trades it for the exclusive one, so that no other test runs (and writes) meanwhile."""

    def __init__(self, lock: IO[str] | None) -> None:
        self.lock = lock

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """For the part of a test whose files alone come near the budget."""
        if self.lock is None:  # one process: one test at a time anyway
            yield
            return
        fcntl.flock(self.lock, fcntl.LOCK_EX)  # the shared lock is given up first: two tests asking at once cannot deadlock
        try:
            yield
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_SH)


@pytest.fixture(autouse=True)
def temp_budget(tmp_path_factory) -> Iterator[TempBudget]:
    if WORKERS == 1:
        yield TempBudget(None)
        return
    with open(session_root(tmp_path_factory) / "temp-budget.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield TempBudget(lock)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A conv5 run of two steps: enough to have every file a real run has. Tests read it and never change it, so
    with ``pytest -n N`` the workers share one (its 0.35 GB once): the first to ask trains it, under a lock."""
    root = session_root(tmp_path_factory)
    out = root / "shared-run" / "conv5"
    with open(root / "shared-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "generator.safetensors").is_file():
            config = TrainConfig(layer="conv5", data="synthetic", out=str(out), steps=2, batch_size=2, encoder=ALEXNET, device="cpu", workers=0)
            Trainer(config).run()
    return out


@pytest.fixture
def pictures(tmp_path):
    """Two random images on disk, a little larger than the encoder's crop."""
    from invertnet.data.imageio import save_image

    return [save_image(torch.rand(3, 240, 260), tmp_path / f"p{i}.png") for i in range(2)]
