"""Which network a training step updates: the discriminator gate, in two versions (``--gate``).

Both watch the ratio r = L_discr / L_adv of the step's losses (eq. 3 over eq. 4): a small r
means the discriminator wins too clearly, a large r that it loses.

``paper`` (section 3.2): "we temporarily stopped updating [the discriminator] if the ratio of
L_discr and L_adv was below a certain threshold (0.1)". The generator is updated first, both
losses are those of the discriminator before this step's update, and the decision applies to
the step whose losses made it. With ``resume_above`` > ``stop_below``, a paused discriminator
resumes only when r reaches ``resume_above``.

``script``: the rule of the authors' training script, as it survives in the code adapted from
it (KamitaniLab/End2EndDeepImageReconstruction, ``end2end_training.py``, "modified from the
training script of the paper"). Each step updates the discriminator first, on real images and
on G(y); then L_adv is computed with the updated discriminator and the generator is updated.
After the step, r = L_discr (before D's update) / L_adv (after it) decides the *next* step,
through three rules applied in this order::

    D on and r < 0.1      ->  D paused, G on
    D paused and r > 0.5  ->  D on, G on
    G on and r > 10       ->  G paused, D on

so a discriminator that loses badly is trained alone until it wins clearly again.

The state is a device tensor changed in place, so the decision needs no host synchronisation
and a step captured into a CUDA graph reads the current state at every replay.
"""

from __future__ import annotations

import math

import torch

from ..errors import InvertnetError, named
from ..names import GATES, PAPER_GATE, SCRIPT_GATE

SCRIPT, PAPER = SCRIPT_GATE, PAPER_GATE
THRESHOLDS = {SCRIPT: (0.1, 0.5, 10.0), PAPER: (0.1, 0.1, None)}
"""Each rule's (stop_below, resume_above, pause_generator_above) in the sources above."""


class Gate:
    """The gate's rule, thresholds and state (whether D and G are updated)."""

    def __init__(
        self,
        rule: str = SCRIPT,
        stop_below: float | None = None,
        resume_above: float | None = None,
        pause_generator_above: float | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        """None takes the rule's threshold from :data:`THRESHOLDS`; ``pause_generator_above`` applies to ``script`` only."""
        if rule not in GATES:
            raise InvertnetError(f"unknown gate {rule!r}: choose one of {', '.join(GATES)}")
        if rule == PAPER and pause_generator_above is not None:
            raise InvertnetError(f"{named('gate_pause_generator')} belongs to {named('gate')} script; the paper's rule never pauses the generator")
        defaults = THRESHOLDS[rule]
        self.rule = rule
        self.stop_below = defaults[0] if stop_below is None else stop_below
        self.resume_above = defaults[1] if resume_above is None else resume_above
        self.pause_generator_above = defaults[2] if pause_generator_above is None else pause_generator_above
        for flag, value in (("--gate-stop", self.stop_below), ("--gate-resume", self.resume_above), ("--gate-pause-generator", self.pause_generator_above)):
            if value is not None and not (0 <= value < math.inf):
                raise InvertnetError(f"{flag} must be a finite number >= 0, got {value}")
        if self.resume_above < self.stop_below:
            raise InvertnetError(f"the gate's resume ratio ({self.resume_above}) must be >= its stop ratio ({self.stop_below})")
        if self.pause_generator_above is not None and self.pause_generator_above < self.resume_above:
            raise InvertnetError(
                f"the gate's generator pause ratio ({self.pause_generator_above}) must be >= its resume ratio ({self.resume_above})"
            )
        self.state = torch.ones(2, dtype=torch.bool, device=device)
        """[D is updated, G is updated]: for ``script``, on the next step; for ``paper``, on the last one decided."""

    @property
    def discriminator(self) -> torch.Tensor:
        """Whether D is updated (a 0-d bool tensor, a view of :attr:`state`)."""
        return self.state[0]

    @property
    def generator(self) -> torch.Tensor:
        """Whether G is updated (a 0-d bool tensor, a view of :attr:`state`)."""
        return self.state[1]

    @property
    def decides_ahead(self) -> bool:
        """True when a step's losses decide the next step (``script``), False when they decide their own (``paper``)."""
        return self.rule == SCRIPT

    def set(self, discriminator: bool, generator: bool = True) -> None:
        """Restore a saved state."""
        self.state.copy_(torch.tensor([discriminator, generator]))

    def decide(self, discr_loss: float | torch.Tensor, adv_loss: float | torch.Tensor) -> torch.Tensor:
        """Apply the rule to one step's losses; return the new state (a copy): [D updated, G updated]."""
        discr = torch.as_tensor(discr_loss, dtype=torch.float32, device=self.state.device)
        adv = torch.as_tensor(adv_loss, dtype=torch.float32, device=self.state.device)
        ratio = torch.where(adv > 0, discr / adv, math.inf)
        d, g = self.state[0].clone(), self.state[1].clone()
        if self.rule == PAPER:
            d = ratio >= torch.where(d, self.stop_below, self.resume_above)
        else:
            assert self.pause_generator_above is not None
            pause_d = d & (ratio < self.stop_below)
            d, g = d & ~pause_d, g | pause_d
            resume = ~d & (ratio > self.resume_above)
            d, g = d | resume, g | resume
            pause_g = g & (ratio > self.pause_generator_above)
            d, g = d | pause_g, g & ~pause_g
        self.state.copy_(torch.stack([d, g]))
        return self.state.clone()
