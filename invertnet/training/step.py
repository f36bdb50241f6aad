"""What one DeePSiM update computes: the losses of eq. 1-5 (and eq. 8 for a VAE), the gate's decision, the updates.

No files, signals or logging here: :class:`DeePSiMStep` holds the networks, their optimizers
and schedules and the gate, and :meth:`DeePSiMStep.__call__` takes one batch to one
:class:`StepResult`, still on the device. Two orders, as the gate decides: with ``--gate
script`` (the authors' script) D takes its Adam step on eq. 3 first and G's adversarial term
comes from the updated D; with ``--gate paper`` (or no discriminator) G is updated first and
this step's losses decide whether D is. An update that must not happen (D while the gate is
closed; anything on a step whose losses are not finite) is skipped inside the fused Adam
kernel through its ``found_inf`` input, so the step makes no host synchronisation.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch.nn.parallel import DistributedDataParallel

from ..encoders import Encoder
from ..errors import InvertnetError
from ..models import Discriminator
from ..models.kinds import INVERTER, VAE_KIND, build_discriminator, build_model
from ..precision import Precision
from ..weights.checkpoint import Checkpoint, flatten_optimizer, unflatten_optimizer
from . import distributed
from .config import TrainConfig
from .gate import Gate
from .graphs import CapturedStep
from .losses import GeneratorLoss, LossConfig, discriminator_loss, generator_loss, kl_divergence
from .schedule import StepSchedule

GRAPH_WARMUP = 3
"""Eager steps before a ``--cuda-graph`` run captures its step."""


def _step_unless(optimizer: torch.optim.Optimizer, skip: torch.Tensor) -> None:
    """``optimizer.step()``, skipped on the device where ``skip`` is true (fused Adam's ``found_inf``)."""
    optimizer.found_inf = skip.float()  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf  # type: ignore[attr-defined]



@dataclass
class StepValues:
    """One step's losses and whether D and G were updated (None: no discriminator, or a gate that never pauses G), read back."""

    values: dict[str, float]
    discriminator_updated: bool | None
    stop_requested: bool
    generator_updated: bool | None = None


@dataclass
class StepResult:
    """One step's losses and gate decision, still on the device.

    Reading them is a host synchronisation, so the loop reads a whole window of steps at
    once (:func:`read_back`), at log, sample and checkpoint steps.
    """

    names: tuple[str, ...]
    stats: torch.Tensor  # the losses, averaged over processes, then the stop flag
    discriminator_updated: torch.Tensor | None
    generator_updated: torch.Tensor | None = None

    def read(self) -> StepValues:
        """This step alone, read back (a host synchronisation)."""
        return read_back([self])[0]

    @property
    def flags(self) -> list[torch.Tensor]:
        return [flag for flag in (self.discriminator_updated, self.generator_updated) if flag is not None]


def read_back(results: list[StepResult]) -> list[StepValues]:
    """Several steps read back with one device-to-host copy."""
    if not results:
        return []
    rows = [torch.cat([r.stats, *(flag.float().view(1) for flag in r.flags)]) for r in results]
    values = torch.stack(rows).tolist()
    steps = []
    for result, row in zip(results, values):
        count = len(result.names)
        flags = iter(bool(value) for value in row[count + 1 :])
        d, g = (None if flag is None else next(flags) for flag in (result.discriminator_updated, result.generator_updated))
        steps.append(StepValues(dict(zip(result.names, row[:count])), d, row[count] > 0, g))
    return steps


class NonFiniteLoss(InvertnetError):
    """A loss became NaN or infinite; nothing of that step was applied or saved."""


@dataclass(eq=False)
class DeePSiMStep:
    """The networks a run trains, their optimizers and schedules, the gate, and the one update they take per batch."""

    model: str
    layer: str
    loss: LossConfig
    context: distributed.Context
    device: torch.device
    precision: Precision
    encoder: Encoder
    comparator: torch.nn.Module | None
    generator: torch.nn.Module
    g_optimizer: torch.optim.Optimizer
    g_schedule: StepSchedule
    discriminator: Discriminator | None
    d_optimizer: torch.optim.Optimizer | None
    d_schedule: StepSchedule | None
    gate: Gate
    compile: bool = False
    cuda_graph: bool = False
    g_train: torch.nn.Module = field(init=False)
    d_train: torch.nn.Module | None = field(init=False, default=None)
    d_frozen: torch.nn.Module | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.g_train = self._compiled(self._wrap(self.generator))
        if self.discriminator is not None:
            self.d_train = self._compiled(self._wrap(self.discriminator))
            self.d_frozen = self._compiled(self.discriminator)  # the bare module for G's pass: no DDP bookkeeping
        self.stop_flag = torch.zeros((), device=self.device)  # set before each step: read inside a captured one
        self.captured = CapturedStep(self.compute, GRAPH_WARMUP, before_capture=lambda: self.set_capturable(True)) if self.cuda_graph else None

    def __call__(self, images: torch.Tensor, stop_requested: bool) -> StepResult:
        """One iteration on a batch already on the device; ``stop_requested``: this process was asked to stop (all agree)."""
        self.stop_flag.fill_(float(stop_requested))
        stats, d_updated, g_updated = self.compute(images) if self.captured is None else self.captured(images)
        assert stats is not None
        return StepResult(self.names, stats, d_updated, g_updated)

    def _pairs(self) -> list[tuple[torch.nn.Module, torch.optim.Optimizer, StepSchedule, str]]:
        pairs = [(self.generator, self.g_optimizer, self.g_schedule, "generator")]
        if self.discriminator is not None and self.d_optimizer is not None and self.d_schedule is not None:
            pairs.append((self.discriminator, self.d_optimizer, self.d_schedule, "discriminator"))
        return pairs

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """The networks' weights and the optimizers' states as checkpoint tensors, and the optimizers' layout as metadata."""
        tensors: dict[str, torch.Tensor] = {}
        metadata: dict[str, str] = {}
        for module, optimizer, _, name in self._pairs():
            tensors.update({f"{name}.{key}": value for key, value in module.state_dict().items()})
            optim, metadata[f"invertnet.optim.{name}"] = flatten_optimizer(f"optim.{name}", optimizer)
            tensors.update(optim)
        return tensors, metadata

    def load_state(self, checkpoint: Checkpoint) -> None:
        """Networks, optimizers and schedules from a checkpoint, each checked whole (ValueError/KeyError/RuntimeError if not)."""
        for module, optimizer, schedule, name in self._pairs():
            module.load_state_dict(checkpoint.module_state(name))
            if not all(torch.isfinite(t).all() for t in module.state_dict().values()):
                raise ValueError(f"the {name} has NaN or infinite weights")
            optimizer.load_state_dict(unflatten_optimizer(f"optim.{name}", checkpoint.tensors, checkpoint.metadata[f"invertnet.optim.{name}"]))
            parameters = [p for group in optimizer.param_groups for p in group["params"]]
            if any(set(optimizer.state.get(p, {})) != {"step", "exp_avg", "exp_avg_sq"} for p in parameters):
                raise ValueError(f"the {name}'s Adam state is incomplete")
            schedule.restore()  # its count of updates from Adam's; the optimizer reads the schedule's rate again
        self.set_capturable(False)  # a saved graph run's flag; set again at capture

    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel when several processes train together; the module itself otherwise."""
        if not self.context.distributed:
            return module
        return DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _compiled(self, module: torch.nn.Module) -> torch.nn.Module:
        """``torch.compile`` of the module when the config asks for it (``--compile``)."""
        return torch.compile(module) if self.compile else module

    def set_capturable(self, capturable: bool) -> None:
        """Mark the optimizers for graph capture, or not (fused Adam computes the same either way)."""
        for optimizer in (self.g_optimizer, self.d_optimizer):
            for group in optimizer.param_groups if optimizer is not None else []:
                group["capturable"] = capturable


    @property
    def names(self) -> tuple[str, ...]:
        """The loss terms a step reports, in the order of its stats."""
        return ("loss", *self.loss.terms, *(("discr",) if self.d_train is not None else ()))

    def compute(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The step's device work on a batch already on the device: (stats, whether D was updated, whether G was).

        With ``--gate paper`` (or no discriminator) G is updated first and the gate decides from
        this step's losses whether D is; with ``--gate script`` D is updated first, L_adv comes
        from the updated D, and the losses decide the next step (:mod:`invertnet.training.gate`).
        """
        x = self.precision.images(images)
        with self._autocast():
            real = x * 255.0
            fake, features, kl = self._reconstruct(x)
        if self.d_train is not None and self.gate.decides_ahead:
            return self._step_discriminator_first(real, fake, features, kl)
        with self._autocast():
            loss = self._generator_loss(fake, real, features, kl)
            parts = {"loss": loss.total, **loss.terms}
            if self.d_train is not None:
                parts["discr"] = self._discriminator_loss(real, fake, features)
        stats = self._stats(parts)
        finite = torch.isfinite(stats[:-1]).all()
        self._update(self.g_optimizer, self.g_schedule, loss.total, finite)
        if self.d_optimizer is None or self.d_schedule is None:
            return stats, None, None
        losses = dict(zip(parts, stats))
        updated = self.gate.decide(losses["discr"], losses["adv"])[0] & finite
        self._update(self.d_optimizer, self.d_schedule, self.loss.lambda_adv * parts["discr"], updated)
        return stats, updated, None

    def _step_discriminator_first(
        self, real: torch.Tensor, fake: torch.Tensor, features: torch.Tensor | None, kl: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``--gate script``: D's update on real and G(y), then G's loss with the updated D, then G's update."""
        assert self.d_optimizer is not None and self.d_schedule is not None
        train_d, train_g = self.gate.discriminator.clone(), self.gate.generator.clone()  # decided by the last step
        with self._autocast():
            discr = self._discriminator_loss(real, fake, features)
        d_finite = torch.isfinite(distributed.all_mean(discr.detach().float().view(1), self.context)).all()
        d_updated = train_d & d_finite
        self._update(self.d_optimizer, self.d_schedule, self.loss.lambda_adv * discr, d_updated)
        with self._autocast():
            loss = self._generator_loss(fake, real, features, kl)
        parts = {"loss": loss.total, **loss.terms, "discr": discr}
        stats = self._stats(parts)
        g_updated = train_g & torch.isfinite(stats[:-1]).all()
        self._update(self.g_optimizer, self.g_schedule, loss.total, g_updated)
        losses = dict(zip(parts, stats))
        self.gate.decide(losses["discr"], losses["adv"])
        return stats, d_updated, g_updated

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        return self.precision.autocast(cache=self.captured is None)

    def _generator_loss(self, fake: torch.Tensor, real: torch.Tensor, features: torch.Tensor | None, kl: torch.Tensor | None) -> GeneratorLoss:
        """Eq. 1 (plus the VAE's KL term), through the discriminator as it is now, whose weights get no gradient."""
        logits_fake = None
        if self.d_frozen is not None and self.discriminator is not None:
            self.discriminator.requires_grad_(False)
            logits_fake = self.d_frozen(fake, features)
            self.discriminator.requires_grad_(True)
        return generator_loss(self.loss, fake, real, self.comparator, logits_fake, kl)

    def _discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """Eq. 3 on the real images and the (detached) reconstructions, in one pass."""
        assert self.d_train is not None
        both = None if features is None else torch.cat([features, features])
        logits = self.d_train(torch.cat([real, fake.detach()]), both)
        return discriminator_loss(logits[: len(real)], logits[len(real) :])

    def _stats(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The step's losses averaged over the processes, then the stop flag."""
        assert tuple(parts) == self.names
        return distributed.all_mean(torch.stack([v.detach().float() for v in parts.values()] + [self.stop_flag]), self.context)

    @staticmethod
    def _update(optimizer: torch.optim.Optimizer, schedule: StepSchedule, loss: torch.Tensor, apply: torch.Tensor) -> None:
        """Backpropagate ``loss`` and take the optimizer's step at its scheduled rate, skipped on the device unless ``apply``.

        The discriminator's loss arrives weighted by lambda_adv, as in Caffe, where the loss
        layer's weight (100) scales the gradient of every network it reaches; Adam does not
        see the scale, except against ``--d-weight-decay``, which is added to that gradient.
        """
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        schedule.before_step()
        _step_unless(optimizer, ~apply)
        schedule.after_step(apply)

    def _reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The trained network's output for ``x``: (fake image in 0-255 units, features D is conditioned on, KL term)."""
        if self.model == INVERTER:
            with torch.no_grad():
                features = self.encoder(x, self.layer)
            return self.g_train(features), features, None
        if self.model == VAE_KIND:
            fake, mu, logvar = self.g_train(x)
            return fake, None, kl_divergence(mu, logvar)
        return self.g_train(x), None, None


def build_step(
    config: TrainConfig, loss: LossConfig, context: distributed.Context, device: torch.device, precision: Precision,
    encoder: Encoder, comparator: torch.nn.Module | None, tail_bias: bool,
) -> DeePSiMStep:
    """Fresh networks, Adam optimizers, schedules and gate for ``config`` (a discriminator only when the loss has eq. 3's term)."""
    fit = precision.module
    generator = fit(build_model(config.model, config.layer, encoder, tail_bias, config.fc_width).to(device))
    betas = (config.beta1, config.beta2)
    g_optimizer = precision.adam(generator.parameters(), config.lr, betas)
    g_schedule = StepSchedule(g_optimizer, config.lr, config.lr_milestones, config.lr_gamma)
    discriminator, d_optimizer, d_schedule = None, None, None
    if loss.adversarial:
        shape = encoder.feature_shape(config.layer) if config.model == INVERTER else None
        discriminator = fit(build_discriminator(config.model, config.layer, shape).to(device))
        d_optimizer = precision.adam(discriminator.parameters(), config.lr, betas, config.d_weight_decay)
        d_schedule = StepSchedule(d_optimizer, config.lr, config.lr_milestones, config.lr_gamma)
    gate = Gate(config.gate, config.gate_stop, config.gate_resume, config.gate_pause_generator, device=device)
    return DeePSiMStep(
        config.model, config.layer, loss, context, device, precision, encoder, comparator, generator, g_optimizer, g_schedule,
        discriminator, d_optimizer, d_schedule, gate, config.compile, config.cuda_graph,
    )
