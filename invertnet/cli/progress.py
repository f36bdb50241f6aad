"""Progress on stderr, one format for ``train`` and ``demo``: step, elapsed and time left, images/s, learning
rate and the loss with its weighted terms, cut to the terminal's width field by field (never mid-word).

On a terminal it is a live bar; in a batch job's log, one plain line per metrics record. Other long work
(``eval``, ``invert --method optimize``, ``synthesize``) counts items with :func:`progress_bar`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .common import stderr

if TYPE_CHECKING:
    from ..training.loop import Trainer

BAR_WIDTH = 20


def clock(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03``; ``--:--`` for a time not yet known."""
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fit(parts: Sequence[str], width: int) -> str:
    """The leading ``parts`` that fit in ``width`` columns, space-separated (the first always)."""
    line = parts[0]
    for part in parts[1:]:
        if len(line) + 1 + len(part) > width:
            break
        line += " " + part
    return line


class Rate:
    """Time left from the measured rate. The first metrics record's estimate counts from the start (start-up
    included); from the second on, from the first record, so start-up and compilation no longer weigh on it."""

    def __init__(self, first_step: int) -> None:
        self.started = time.perf_counter()
        self.first_step = first_step
        self.anchor: tuple[int, float] | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self, step: int, total: int) -> float | None:
        """Seconds left after ``step`` of ``total``; None until a step has been measured. Call once per record."""
        now = time.perf_counter()
        if self.anchor is None:
            self.anchor = (step, now)
            since, at = self.first_step, self.started
        else:
            since, at = self.anchor
        if step <= since:
            return None
        return (now - at) / (step - since) * (total - step)


def describe(record: dict[str, object], weights: dict[str, float]) -> list[str]:
    """The record's fields after the step and times, most important first: speed, rate, loss and its weighted terms, the gate."""
    parts = [f"{record['images_per_s']:.1f} img/s"]
    if "lr" in record:
        parts.append(f"lr {record['lr']:.2g}")
    terms = [f"{name} {float(record[f'{name}_weighted']):.4g}" for name in ("feat", "adv", "img", "kl") if weights.get(name) and f"{name}_weighted" in record]
    parts.append(f"loss {record['loss']:.4g}" + (f" = {' + '.join(terms)} (weighted)" if terms else ""))
    if "discr" in record:
        parts.append(f"D-loss {record['discr']:.3g}")
    if "d_updated" in record:
        parts.append(f"D {'on' if record['d_updated'] else 'paused'}")
    if record.get("g_updated") is False:
        parts.append("G paused")
    if record.get("skipped_files"):
        parts.append(f"skipped {record['skipped_files']} files")
    return parts


class TrainDisplay:
    """Training progress: a live bar on a terminal, one plain line per metrics record otherwise (batch jobs)."""

    def __init__(self) -> None:
        self.live = stderr.is_terminal
        self.progress = Progress(
            TextColumn("step"), MofNCompleteColumn(), BarColumn(bar_width=BAR_WIDTH), TextColumn("{task.fields[status]}"),
            console=stderr, disable=not self.live,
        )
        self.task = self.progress.add_task("train", total=None, status="starting")
        self.weights: dict[str, float] = {}
        self.rate = Rate(0)
        self.total = 0

    def start(self, trainer: Trainer) -> None:
        """Before the first step: the run's length, where it resumes, and its loss weights."""
        self.total, self.weights = trainer.config.steps, trainer.update.loss.weights
        self.rate = Rate(trainer.step)
        self.progress.update(self.task, total=self.total, completed=trainer.step)

    def line(self, record: dict[str, object], width: int) -> str:
        """The progress line for ``record`` in ``width`` columns (elapsed<left as in tqdm)."""
        step = int(record["step"])  # type: ignore[call-overload]
        times = f"{clock(self.rate.elapsed())}<{clock(self.rate.left(step, self.total))}"
        return fit([times, *describe(record, self.weights)], width)

    def update(self, record: dict[str, object]) -> None:
        if self.live:
            room = stderr.width - len(f"step {self.total}/{self.total} ") - BAR_WIDTH - 2
            self.progress.update(self.task, completed=int(record["step"]), status=self.line(record, room))  # type: ignore[call-overload]
        else:
            step = f"step {record['step']}/{self.total}"
            stderr.print(f"{step} {self.line(record, 10**6)}", highlight=False, soft_wrap=True)

    def __enter__(self) -> TrainDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


LOG_EVERY = 60.0
"""Seconds between progress lines in a log (a finished task is always reported)."""


class LogProgress:
    """:func:`progress_bar` where stderr is not a terminal (a batch job's log): a plain line when a task finishes,
    and one every ``every`` seconds for the task updated last, so a long run shows it is alive."""

    def __init__(self, every: float = LOG_EVERY) -> None:
        self.every = every
        self.started = self.last = time.perf_counter()
        self.tasks: list[dict[str, object]] = []

    def add_task(self, description: str, total: float | None = None, **_: object) -> int:
        self.tasks.append({"description": description, "total": total, "completed": 0})
        return len(self.tasks) - 1

    def remove_task(self, task: int) -> None:
        """Nothing to take off a log: its line was printed when the task finished."""

    def update(self, task: int, *, completed: float | None = None, description: str | None = None, **_: object) -> None:
        state = self.tasks[task]
        if description is not None:
            state["description"] = description
        if completed is not None:
            state["completed"] = completed
        total, done = state["total"], state["completed"]
        finished = total is not None and done >= total  # type: ignore[operator]
        now = time.perf_counter()
        if finished or now - self.last >= self.every:
            self.last = now
            count = f"{done:g}/{total:g}" if total is not None else f"{done:g}"
            stderr.print(f"{state['description']} {count} {clock(now - self.started)}", highlight=False, soft_wrap=True)


@contextmanager
def progress_bar() -> Iterator[Progress | LogProgress]:
    """Progress on stderr for work counted in items, one task per ``add_task(description, total=...)``: on a
    terminal a transient bar (description, done/total, bar, elapsed and time left), in a log plain lines."""
    if not stderr.is_terminal:
        yield LogProgress()
        return
    with Progress(
        TextColumn("{task.description}"), MofNCompleteColumn(), BarColumn(bar_width=BAR_WIDTH), TimeElapsedColumn(), TextColumn("<"),
        TimeRemainingColumn(), console=stderr, transient=True,
    ) as progress:
        yield progress
