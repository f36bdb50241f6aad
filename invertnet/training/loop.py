"""Training with the DeePSiM loss: a generator for one encoder layer, a VAE or an autoencoder.

    invertnet train --layer fc6 --data /data/imagenet --out runs/fc6
    invertnet train --layer conv5 --data synthetic --steps 100 --batch-size 8 \\
        --alexnet random:0 --device cpu --out runs/demo
    invertnet train --model vae --data /data/imagenet --out runs/vae
    invertnet train --out runs/fc6 --resume            # continue a stopped run

From Python: ``Trainer(TrainConfig(layer="conv5", data="synthetic", out="runs/x")).run()``,
and ``Trainer.resume("runs/x").run()``.

Each step: features y = AlexNet(x); fake = G(y); the discriminator takes one Adam step on eq. 3,
then the generator one on eq. 1 through the updated discriminator, each unless the gate of the
authors' script paused it (``--gate script``, :mod:`invertnet.training.gate`); ``--gate paper`` updates G
first and pauses D alone. Both rates follow the solver's schedule (:mod:`invertnet.training.schedule`).
A VAE (``--model vae``) makes fake = Dec(mu + sigma * eps) from its own trained encoder and adds
lambda_KL * eq. 8; an autoencoder (``--model autoencoder``) makes fake = Dec(Enc(x)). Their
discriminator sees the images alone (:mod:`invertnet.models.kinds`); the loop is the same.
A run folder holds ``checkpoint.safetensors`` (everything needed to resume),
``generator.safetensors`` (for inference), ``config.json``, ``metrics.jsonl`` and
``samples/step_NNNNNNN.png`` (inputs above, reconstructions below). Checkpoints are atomic;
SIGINT/SIGTERM finish the current step, save and exit; a non-finite loss stops the run
with nothing saved, and no update of that step applied. The step makes no host
synchronisation: losses are read back once per log window (see :meth:`Trainer.train_step`);
with ``--cuda-graph`` it is captured once into a CUDA graph and replayed (:mod:`invertnet.training.graphs`).
A resumed run computes exactly what an uninterrupted one would: the data of each step is a
function of (seed, step), the optimizer and gate states are in the checkpoint, and dropout
is reseeded from (seed, step, rank) every step.

Many processes: ``torchrun --nproc-per-node 8 -m invertnet train ...`` trains with
DistributedDataParallel; ``--batch-size`` is the global batch, shared out between the
processes, so a run means the same thing on any number of them and resumes on any number.
Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from ..data.batches import check_gpu_decode, training_batches
from ..data.datasets import SYNTHETIC, BrokenImage, RunOrder, crop_style, eval_crop, mix_seed, open_source
from ..data.imageio import grid, save_image
from ..encoders import load_encoder
from ..errors import InvertnetError
from ..models import Discriminator
from ..models.generator import has_tail_biases
from ..models.kinds import (
    INVERTER,
    VAE_KIND,
    build_discriminator,
    build_model,
    training_geometry,
)
from ..precision import Precision
from ..weights.checkpoint import (
    CHECKPOINT_NAME,
    GENERATOR_NAME,
    Checkpoint,
    atomic_save,
    base_metadata,
    flatten_optimizer,
    load_checkpoint,
    unflatten_optimizer,
)
from . import distributed, run_folder
from .calibrate import LIGHT_FEATURE_TERM, term_balance
from .config import TrainConfig
from .gate import Gate
from .graphs import CapturedStep
from .losses import GeneratorLoss, build_comparator, discriminator_loss, generator_loss, kl_divergence
from .runlock import run_lock
from .schedule import StepSchedule

SAMPLE_COUNT = 8
GRAPH_WARMUP = 3
"""Eager steps before a ``--cuda-graph`` run captures its step."""


def _step_unless(optimizer: torch.optim.Optimizer, skip: torch.Tensor) -> None:
    """``optimizer.step()``, skipped on the device where ``skip`` is true (fused Adam's ``found_inf``)."""
    optimizer.found_inf = skip.float()  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf  # type: ignore[attr-defined]


class NonFiniteLoss(InvertnetError):
    """A loss became NaN or infinite; nothing of that step was applied or saved."""


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


@dataclass
class TrainResult:
    """How a run ended."""

    step: int
    out: Path
    interrupted: bool = False
    skipped_files: list[str] = field(default_factory=list)


class Trainer:
    """Builds the networks for a :class:`TrainConfig` (or resumes them) and runs the loop."""

    def __init__(self, config: TrainConfig, checkpoint: Checkpoint | None = None) -> None:
        """A new run from ``config``, or, with ``checkpoint``, the run it was saved from (see :meth:`resume`)."""
        self.out = Path(config.out)
        if checkpoint is None:
            run_folder.check_new_run(self.out, config.data)
        self.config = config
        self.loss = config.validate()
        self.context, self.device = distributed.setup(config.device)
        if config.cuda_graph and self.device.type != "cuda":
            raise InvertnetError(f"--cuda-graph needs a CUDA device, not {self.device}")
        if config.cuda_graph and self.context.distributed:
            raise InvertnetError("--cuda-graph trains on one process; under torchrun leave it off")
        if config.gpu_decode and self.device.type != "cuda":
            raise InvertnetError(f"--gpu-decode decodes JPEGs with nvJPEG on a CUDA device, not {self.device}: leave it off (--no-gpu-decode)")
        if config.batch_size % self.context.world_size:
            raise InvertnetError(f"--batch-size {config.batch_size} (the global batch) must be divisible by the {self.context.world_size} processes")
        self.local_batch = config.batch_size // self.context.world_size
        torch.manual_seed(config.seed)  # the same initial weights in every process

        self.precision = Precision.resolve(config.precision, self.device)
        self.precision.configure_backends()
        fit = self.precision.module

        self.alexnet = fit(load_encoder(config.alexnet, device=self.device))
        self.source = open_source(config.data, "train")
        self.comparator = build_comparator(self.loss.comparator, self.alexnet)
        if self.comparator is not None:
            fit(self.comparator)
        self.geometry = training_geometry(config.model, self.alexnet)
        self.crops = crop_style(config.crops)
        if config.gpu_decode:  # refused now rather than when the loader starts
            check_gpu_decode(config.data == SYNTHETIC, self.geometry.resize, self.crops)
        tail_bias = checkpoint is not None and has_tail_biases(checkpoint.module_state("generator"))  # a run from before 0.2 goes on as it was
        self.generator = fit(build_model(config.model, config.layer, self.alexnet, tail_bias, config.fc_width).to(self.device))
        """The network being trained: a :class:`Generator`, a :class:`VAE` or an :class:`Autoencoder` (saved as ``generator.*``)."""
        betas = (config.beta1, config.beta2)
        self.g_optimizer = self.precision.adam(self.generator.parameters(), config.lr, betas)
        self.g_schedule = StepSchedule(self.g_optimizer, config.lr, config.lr_milestones, config.lr_gamma)
        self.discriminator: Discriminator | None = None
        self.d_optimizer: torch.optim.Optimizer | None = None
        self.d_schedule: StepSchedule | None = None
        if self.loss.adversarial:
            self.discriminator = fit(build_discriminator(config.model, config.layer).to(self.device))
            self.d_optimizer = self.precision.adam(self.discriminator.parameters(), config.lr, betas, config.d_weight_decay)
            self.d_schedule = StepSchedule(self.d_optimizer, config.lr, config.lr_milestones, config.lr_gamma)
        self._g_train: torch.nn.Module = self._compiled(self._wrap(self.generator))
        self._d_train: torch.nn.Module | None = None
        self._d_frozen: torch.nn.Module | None = None
        if self.discriminator is not None:
            self._d_train = self._compiled(self._wrap(self.discriminator))
            self._d_frozen = self._compiled(self.discriminator)  # the bare module for G's pass: no DDP bookkeeping
        self.gate = Gate(config.gate, config.gate_stop, config.gate_resume, config.gate_pause_generator, device=self.device)
        self.step = 0
        self.skipped: set[int] = set()
        self._signal_received: int | None = None  # set by a signal in this process
        self._stop_signal: int | None = None  # agreed by all processes during a step
        self._samples: torch.Tensor | None = None
        self.warnings: list[str] = []
        """What a user should know about this run before it goes on (a changed data folder)."""
        self._stop_flag = torch.zeros((), device=self.device)  # set before each step: read inside a captured one
        self._captured = CapturedStep(self._step, GRAPH_WARMUP, before_capture=lambda: self._set_capturable(True)) if config.cuda_graph else None
        if checkpoint is not None:
            self._restore(checkpoint)
        else:
            self._check_feature_term()

    def _check_feature_term(self) -> None:
        """Warn when the feature term between two different sample images weighs next to nothing against the image term.

        With a comparator whose features are far smaller than CaffeNet's (a random network with
        PyTorch's initialisation, say), lambda_feat = 0.01 makes a ``full`` run an ``adv+image``
        one in all but name; ``invertnet calibrate`` gives the lambda_feat that fits.
        """
        if self.comparator is None or self.loss.lambda_img <= 0 or self.loss.image_loss != "l2":
            return
        images = self.sample_images().to(self.device)
        if len(images) < 2:
            return
        feature, image = term_balance(self.comparator, images, self.loss.lambda_feat, self.loss.lambda_img)
        if feature < LIGHT_FEATURE_TERM * image:
            self.warnings.append(
                f"between two different sample images the weighted feature term is {feature:.3g} and the image term {image:.3g}: "
                f"the feature term would steer nothing (the {self.loss.comparator} features of {self.alexnet.identity} are far smaller "
                f"than CaffeNet's, for which lambda_feat {self.loss.lambda_feat:g} was set). "
                f"`invertnet calibrate --data {self.config.data} --alexnet {self.config.alexnet} --comparator {self.loss.comparator}` "
                "measures the --lambda-feat that fits"
            )

    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel when several processes train together; the module itself otherwise."""
        if not self.context.distributed:
            return module
        return DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _compiled(self, module: torch.nn.Module) -> torch.nn.Module:
        """``torch.compile`` of the module when the config asks for it (``--compile``)."""
        return torch.compile(module) if self.config.compile else module

    def _set_capturable(self, capturable: bool) -> None:
        """Mark the optimizers for graph capture, or not (fused Adam computes the same either way)."""
        for optimizer in (self.g_optimizer, self.d_optimizer):
            for group in optimizer.param_groups if optimizer is not None else []:
                group["capturable"] = capturable

    @classmethod
    def resume(
        cls, out: str | os.PathLike[str], *, steps: int | None = None, device: str = "auto", workers: int | None = None,
        cuda_graph: bool | None = None, gpu_decode: bool | None = None, data: str | None = None,
    ) -> Trainer:
        """Continue the run in ``out`` from its checkpoint, with its saved config.

        Only the total ``steps`` (to extend a run), the device, the loader workers,
        ``cuda_graph`` (how the step is launched, not what it computes), ``gpu_decode`` (which
        JPEG decoder makes the same crops) and ``data`` (where a moved data folder is now;
        :attr:`warnings` says if its file list changed) may change.
        """
        path = Path(out) / CHECKPOINT_NAME
        if not path.is_file():
            raise InvertnetError(f"nothing to resume: {path} does not exist")
        checkpoint = load_checkpoint(path)
        try:
            config = TrainConfig.from_dict(checkpoint.config)
        except InvertnetError as error:
            raise InvertnetError(f"{path} is damaged: {error}") from None
        config.out, config.device, config.workers = str(out), device, workers
        if steps is not None:
            config.steps = steps
        if cuda_graph is not None:
            config.cuda_graph = cuda_graph
        if gpu_decode is not None:
            config.gpu_decode = gpu_decode
        if data is not None:
            config.data = str(data)
        elif config.data != "synthetic" and not Path(config.data).exists():
            raise InvertnetError(f"the run's data folder {config.data} is gone: if it moved, pass its new place with --data")
        return cls(config, checkpoint)

    # ----------------------------------------------------------------- state
    def _restore(self, checkpoint: Checkpoint) -> None:
        if checkpoint.alexnet != self.alexnet.identity:
            raise InvertnetError(f"{checkpoint.path} was trained against the encoder '{checkpoint.alexnet}', not '{self.alexnet.identity}'")
        if checkpoint.layer != self.config.layer:
            raise InvertnetError(f"{checkpoint.path} is damaged: it says it inverts {checkpoint.layer}, its config says {self.config.layer}")
        try:
            self._load_states(checkpoint)
        except (KeyError, ValueError, TypeError, RuntimeError, AttributeError) as error:
            raise InvertnetError(f"{checkpoint.path} cannot be resumed, it is damaged ({type(error).__name__}: {error})") from None
        if self.step > self.config.steps:
            raise InvertnetError(f"the checkpoint is at step {self.step}, past --steps {self.config.steps}")

    def _load_states(self, checkpoint: Checkpoint) -> None:
        """Networks, optimizers, gate and counters from a checkpoint, each checked whole."""
        pairs = [(self.generator, self.g_optimizer, self.g_schedule, "generator")]
        if self.discriminator is not None and self.d_optimizer is not None and self.d_schedule is not None:
            pairs.append((self.discriminator, self.d_optimizer, self.d_schedule, "discriminator"))
        for module, optimizer, schedule, name in pairs:
            module.load_state_dict(checkpoint.module_state(name))
            if not all(torch.isfinite(t).all() for t in module.state_dict().values()):
                raise ValueError(f"the {name} has NaN or infinite weights")
            optimizer.load_state_dict(unflatten_optimizer(f"optim.{name}", checkpoint.tensors, checkpoint.metadata[f"invertnet.optim.{name}"]))
            parameters = [p for group in optimizer.param_groups for p in group["params"]]
            if any(set(optimizer.state.get(p, {})) != {"step", "exp_avg", "exp_avg_sq"} for p in parameters):
                raise ValueError(f"the {name}'s Adam state is incomplete")
            schedule.restore()  # its count of updates from Adam's; the optimizer reads the schedule's rate again
        self._set_capturable(False)  # a saved graph run's flag; set again at capture
        state = checkpoint.state
        self.step = checkpoint.step
        if self.step < 1:
            raise ValueError(f"step {self.step}: a training checkpoint is written after a step")
        self.gate.set(bool(state["gate_active"]), bool(state.get("generator_active", True)))
        self.skipped = {int(index) for index in state.get("skipped_indices", [])}
        trained_on = state.get("data_fingerprint")
        if trained_on is not None and trained_on != self.source.fingerprint:
            self.warnings.append(
                f"the files in {self.config.data} are not those the run was trained on (their list changed): training goes on "
                "with these, so from here the run differs from an uninterrupted one"
            )

    def _metadata(self, kind: str) -> dict[str, str]:
        config = asdict(self.config)
        config["loss_config"] = self.loss.to_dict()
        return base_metadata(self.config.layer, self.alexnet.identity, config, self.step, kind, self.config.model)

    def save(self) -> Path:
        """Write the training checkpoint, then the generator file, each atomically.

        In that order, a process killed between the two leaves a checkpoint to resume from,
        never a generator without one (which a new run refuses to overwrite).
        """
        tensors = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        generator_only = dict(tensors)
        metadata = self._metadata("training")
        optim, metadata["invertnet.optim.generator"] = flatten_optimizer("optim.generator", self.g_optimizer)
        tensors.update(optim)
        if self.discriminator is not None and self.d_optimizer is not None:
            tensors.update({f"discriminator.{k}": v for k, v in self.discriminator.state_dict().items()})
            optim, metadata["invertnet.optim.discriminator"] = flatten_optimizer("optim.discriminator", self.d_optimizer)
            tensors.update(optim)
        metadata["invertnet.state"] = json.dumps({
            "gate_active": bool(self.gate.discriminator), "generator_active": bool(self.gate.generator), "skipped_indices": sorted(self.skipped), "world_size": self.context.world_size,
            "data_fingerprint": self.source.fingerprint,
        })
        checkpoint = atomic_save(tensors, metadata, self.out / CHECKPOINT_NAME)  # first: a run with a generator always has one
        atomic_save(generator_only, self._metadata("generator"), self.out / GENERATOR_NAME)
        return checkpoint

    # ------------------------------------------------------------------ step
    def train_step(self, images: torch.Tensor) -> StepResult:
        """One DeePSiM iteration on this process's share of the batch ([0, 1] crops), with no host sync.

        The losses are averaged over processes once per step, so the discriminator gate and a
        requested stop are decided identically everywhere. Both decisions stay on the device:
        the gate is a tensor, and an update that must not happen (D while the gate is
        closed; anything on a step whose losses are not finite) is skipped inside the fused
        Adam kernel through its ``found_inf`` input, the mechanism torch's GradScaler uses,
        which leaves weights, moments and step count as they were. With ``--cuda-graph``
        the same computation is captured once and replayed (:class:`CapturedStep`).
        """
        torch.manual_seed(mix_seed(self.config.seed, self.step, self.context.rank))  # dropout: a function of (seed, step, rank)
        self._stop_flag.fill_(float(self._signal_received is not None))
        images = images.to(self.device, non_blocking=True)
        stats, d_updated, g_updated = self._step(images) if self._captured is None else self._captured(images)
        assert stats is not None
        return StepResult(self._names, stats, d_updated, g_updated)

    @property
    def _names(self) -> tuple[str, ...]:
        """The loss terms a step reports, in the order of its stats."""
        return ("loss", *self.loss.terms, *(("discr",) if self._d_train is not None else ()))

    def _step(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The step's device work on a batch already on the device: (stats, whether D was updated, whether G was).

        With ``--gate paper`` (or no discriminator) G is updated first and the gate decides from
        this step's losses whether D is; with ``--gate script`` D is updated first, L_adv comes
        from the updated D, and the losses decide the next step (:mod:`invertnet.training.gate`).
        """
        x = self.precision.images(images)
        with self._autocast():
            real = x * 255.0
            fake, features, kl = self._reconstruct(x)
        if self._d_train is not None and self.gate.decides_ahead:
            return self._step_discriminator_first(real, fake, features, kl)
        with self._autocast():
            loss = self._generator_loss(fake, real, features, kl)
            parts = {"loss": loss.total, **loss.terms}
            if self._d_train is not None:
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
        return self.precision.autocast(cache=self._captured is None)

    def _generator_loss(self, fake: torch.Tensor, real: torch.Tensor, features: torch.Tensor | None, kl: torch.Tensor | None) -> GeneratorLoss:
        """Eq. 1 (plus the VAE's KL term), through the discriminator as it is now, whose weights get no gradient."""
        logits_fake = None
        if self._d_frozen is not None and self.discriminator is not None:
            self.discriminator.requires_grad_(False)
            logits_fake = self._d_frozen(fake, features)
            self.discriminator.requires_grad_(True)
        return generator_loss(self.loss, fake, real, self.comparator, logits_fake, kl)

    def _discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """Eq. 3 on the real images and the (detached) reconstructions, in one pass."""
        assert self._d_train is not None
        both = None if features is None else torch.cat([features, features])
        logits = self._d_train(torch.cat([real, fake.detach()]), both)
        return discriminator_loss(logits[: len(real)], logits[len(real) :])

    def _stats(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The step's losses averaged over the processes, then the stop flag."""
        assert tuple(parts) == self._names
        return distributed.all_mean(torch.stack([v.detach().float() for v in parts.values()] + [self._stop_flag]), self.context)

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
        if self.config.model == INVERTER:
            with torch.no_grad():
                features = self.alexnet(x, self.config.layer)
            return self._g_train(features), features, None
        if self.config.model == VAE_KIND:
            fake, mu, logvar = self._g_train(x)
            return fake, None, kl_divergence(mu, logvar)
        return self._g_train(x), None, None

    # --------------------------------------------------------------- outputs
    def sample_images(self) -> torch.Tensor:
        """Fixed images for the sample grids: the first held-out ones where the data has a val split."""
        if self._samples is None:
            try:
                source = open_source(self.config.data, "val")
            except InvertnetError:
                source = self.source
            images: list[torch.Tensor] = []
            for index in range(min(len(source), 10 * SAMPLE_COUNT)):
                try:
                    images.append(eval_crop(source.load(index), self.geometry.size, self.geometry.resize, self.crops))
                except BrokenImage:
                    continue
                if len(images) == SAMPLE_COUNT:
                    break
            if not images:
                raise InvertnetError(f"none of the first {10 * SAMPLE_COUNT} images of {self.config.data} can be read")
            self._samples = torch.stack(images)
        return self._samples

    @torch.no_grad()
    def write_samples(self) -> Path:
        """A grid: inputs in the first row, their reconstructions in the second; a VAE adds a row of samples from the prior."""
        inputs = self.sample_images().to(self.device)
        self.generator.eval()
        if self.config.model == INVERTER:
            rows = [self.generator(self.alexnet(inputs, self.config.layer))]
        else:
            rows = [self.generator.decode(self.generator.encode(inputs))[..., : inputs.shape[-2], : inputs.shape[-1]]]
        if self.config.model == VAE_KIND:
            rows.append(self.generator.sample(len(inputs), torch.Generator().manual_seed(self.config.seed)))
        self.generator.train()
        images = torch.cat([inputs, *((row / 255.0).clamp(0, 1) for row in rows)])
        return save_image(grid(images, columns=len(inputs)), run_folder.sample_path(self.out, self.step))

    # ------------------------------------------------------------------ loop
    def _handle_signal(self, signum: int, frame: object) -> None:
        if self._signal_received is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.request_stop(signum)

    @property
    def stop_signal(self) -> int | None:
        """The signal that stopped the run, if one did."""
        return self._stop_signal

    def request_stop(self, signum: int = signal.SIGINT) -> None:
        """Ask the loop to save and stop after the current step (what SIGINT/SIGTERM do).

        With several processes, the stop is agreed during the next step, so all stop together.
        """
        self._signal_received = signum
        if not self.context.distributed:
            self._stop_signal = signum

    def _loader(self) -> Iterable[tuple[torch.Tensor, list[int]]]:
        """This process's batches: a DataLoader over the files, or synthetic images painted on the device."""
        order = RunOrder(
            len(self.source), self.config.seed, self.local_batch, self.step, self.config.steps, self.context.rank, self.context.world_size
        )
        return training_batches(
            self.source, order, self.device, self.config.workers, self.config.gpu_decode, self.geometry.size, self.geometry.resize, self.crops,
        )

    def run(self, on_log: Callable[[dict[str, object]], None] | None = None) -> TrainResult:
        """Train until ``config.steps``; ``on_log`` receives every record written to metrics.jsonl.

        The main process holds the run folder's lock throughout (:func:`run_lock`).
        """
        if not self.context.is_main:
            return self._run(on_log)
        with run_lock(self.out):
            return self._run(on_log)

    def _run(self, on_log: Callable[[dict[str, object]], None] | None) -> TrainResult:
        main = self.context.is_main  # only the main process writes files
        if main:
            run_folder.prepare(self.out, {**asdict(self.config), "loss_config": self.loss.to_dict()}, self.step)
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {s: signal.signal(s, self._handle_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        pending: list[StepResult] = []  # steps not read back yet (still on the device)
        window: list[StepValues] = []  # steps read back since the last log record
        started = time.perf_counter()
        try:
            if self.step == 0 and main:
                self.write_samples()
            for images, skipped in self._loader():
                self.skipped.update(skipped)
                pending.append(self.train_step(images))
                self.step += 1
                last = self.step == self.config.steps
                due = {name: self.step % getattr(self.config, f"{name}_every") == 0 or last for name in ("log", "sample", "checkpoint")}
                if self._stop_signal is not None or any(due.values()):
                    window += self._read_back(pending)
                    pending = []
                stop = self._stop_signal is not None and not pending  # every step so far read back and checked
                if due["log"] or stop:
                    elapsed = time.perf_counter() - started
                    record = self._log_record(window, elapsed)
                    if main:
                        run_folder.append_metrics(self.out, record)
                        if on_log is not None:
                            on_log(record)
                    window, started = [], time.perf_counter()
                    stop = self._stop_signal is not None  # on_log may ask to stop
                if main and due["sample"]:
                    self.write_samples()
                if main and (due["checkpoint"] or stop):
                    self.save()
                if stop:
                    break
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return TrainResult(self.step, self.out, self._stop_signal is not None, self._skipped_names())

    def _read_back(self, pending: list[StepResult]) -> list[StepValues]:
        """Read the pending steps (one host sync); stop at a non-finite loss; agree on a stop request."""
        steps = read_back(pending)
        for offset, values in enumerate(steps):
            if not all(math.isfinite(v) for v in values.values.values()):
                number = self.step - len(steps) + offset + 1
                raise NonFiniteLoss(
                    f"non-finite loss at step {number} ({', '.join(f'{k}={v:.4g}' for k, v in values.values.items())}): "
                    f"no update of that step was applied and nothing was saved; the last checkpoint is in {self.out}"
                )
        if any(values.stop_requested for values in steps):  # some process was told to stop: all stop now
            self._stop_signal = self._signal_received or signal.SIGTERM
        return steps

    def _skipped_names(self) -> list[str]:
        return [self.source.name(i) for i in sorted(self.skipped)]

    def _log_record(self, window: list[StepValues], elapsed: float) -> dict[str, object]:
        keys = window[-1].values.keys()
        record: dict[str, object] = {"step": self.step, "steps": self.config.steps}
        record.update({k: sum(r.values[k] for r in window) / len(window) for k in keys})
        if self.discriminator is not None:
            record["d_updated"] = window[-1].discriminator_updated
            record["d_update_rate"] = sum(r.discriminator_updated for r in window) / len(window)
        if window[-1].generator_updated is not None:
            record["g_updated"] = window[-1].generator_updated
            record["g_update_rate"] = sum(bool(r.generator_updated) for r in window) / len(window)
        record["images_per_s"] = len(window) * self.config.batch_size / max(elapsed, 1e-9)
        record["skipped_files"] = len(self.skipped)
        if self.context.distributed:
            record["processes"] = self.context.world_size
            record["in_sync"] = distributed.in_sync(self.generator, self.context) and (
                self.discriminator is None or distributed.in_sync(self.discriminator, self.context)
            )
        return record
