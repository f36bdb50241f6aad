"""The learning-rate schedule: the rate is multiplied by ``gamma`` after each milestone (``--lr-milestones``).

The authors' solver (KamitaniLab/End2EndDeepImageReconstruction, ``net_templates/solver_template.prototxt``,
the solver of the training script adapted from the paper's) is Caffe's ``multistep`` policy:
``base_lr: 0.0002``, ``gamma: 0.5``, ``stepvalue`` 300000, 500000, 700000, 900000, 1100000.
Caffe's rate for an update is ``base_lr * gamma ** k``, k the number of step values its
iteration counter has reached; the script has one solver per network and advances a
solver's counter only when it applies an update (``increment_iter`` under ``if train_gen``
and ``if train_discr``). So here, too, each network follows its own count of applied
updates: update n (counting from 1) uses ``lr * gamma ** #{m in milestones : m < n}``.

The rate and the count are device tensors changed in place: no host synchronisation, and a
step captured into a CUDA graph reads the current rate at every replay.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from fractions import Fraction

import torch

from ..errors import InvertnetError, named

MAX_MILESTONE = 10**12
"""No run takes more updates than this (the paper's ran 10**6)."""
NUMBER = re.compile(r"(\d+(\.\d*)?|\.\d+)(e[+-]?\d{1,3})?")
"""A milestone as written: decimal digits, an optional fraction and a short exponent (1e10000000000 would take minutes)."""


def check_milestones(milestones: Sequence[int], gamma: float) -> tuple[int, ...]:
    """The milestones as a strictly increasing tuple of positive integers, or a clear error."""
    values = tuple(milestones)
    if any(not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= MAX_MILESTONE for m in values):
        raise InvertnetError(
            f"--lr-milestones must be whole numbers of updates from 1 to {MAX_MILESTONE:,}, got {', '.join(map(str, values))[:200]}"
        )
    if any(b <= a for a, b in zip(values, values[1:])):
        raise InvertnetError(f"{named('lr_milestones')} must increase, got {', '.join(map(str, values))}")
    if not (0 < gamma <= 1 and math.isfinite(gamma)):
        raise InvertnetError(f"{named('lr_gamma')} must be in (0, 1], got {gamma}")
    return values


def parse_milestones(text: str) -> tuple[int, ...]:
    """``"300000,500000"`` (``k``/``M`` suffixes allowed: ``300k,1.1M``) as milestones; ``none`` or ``""`` for a constant rate."""
    if text.strip().lower() in ("", "none"):
        return ()
    values = []
    for part in text.split(","):
        part = part.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        number = part[:-1] if scale > 1 else part
        if not NUMBER.fullmatch(number):
            raise InvertnetError(f"{named('lr_milestones')} {text[:100]!r}: {part[:40]!r} is not a number of updates (e.g. 300000, 300k or 1.1M)")
        value = Fraction(number) * scale  # exact: 2.3M is 2,300,000, not 2,299,999.9999999995
        if value > MAX_MILESTONE:
            raise InvertnetError(f"{named('lr_milestones')} {text[:100]!r}: {part[:40]!r} is more updates than any run takes (at most {MAX_MILESTONE:,})")
        if value.denominator != 1:
            raise InvertnetError(f"{named('lr_milestones')} {text!r}: {part!r} is not a whole number of updates")
        values.append(int(value))
    return tuple(values)


class StepSchedule:
    """One optimizer's rate as a device tensor, set before each step from the updates it has applied."""

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, milestones: Sequence[int], gamma: float) -> None:
        self.optimizer, self.base = optimizer, lr
        self.milestones = tuple(milestones)
        device = next(p.device for group in optimizer.param_groups for p in group["params"])
        self.updates = torch.zeros((), device=device)
        self._milestones = torch.tensor([float(m) for m in self.milestones], device=device)
        self._gamma = torch.tensor(gamma, device=device)
        self.lr = torch.tensor(lr, device=device)
        self.install()

    def install(self) -> None:
        """Make the optimizer read :attr:`lr` (again after ``load_state_dict``, which puts back saved floats)."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def restore(self) -> None:
        """After ``optimizer.load_state_dict`` (which puts back the saved float rate): take Adam's count of updates, serve the rate again."""
        self.updates.fill_(float(applied_updates(self.optimizer)))
        self.before_step()
        self.install()

    def before_step(self) -> None:
        """Set the rate of the next update (number ``updates + 1``)."""
        if self.milestones:
            passed = (self._milestones < self.updates + 1).sum()
            self.lr.copy_(self._gamma.pow(passed) * self.base)

    def after_step(self, applied: torch.Tensor) -> None:
        """Count the update if it was applied (``applied``: a 0-d bool tensor)."""
        self.updates.add_(applied.float())


def applied_updates(optimizer: torch.optim.Optimizer) -> int:
    """How many updates Adam has applied, from its state (0 before the first): a resumed run's count."""
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            step = optimizer.state.get(parameter, {}).get("step")
            if step is not None:
                return int(step.item() if isinstance(step, torch.Tensor) else step)
    return 0
