"""Training with the DeePSiM loss: a generator for one encoder layer, a VAE or an autoencoder.

    invertnet train --layer fc6 --data /data/imagenet --out runs/fc6
    invertnet train --layer conv5 --data synthetic --steps 100 --batch-size 8 \\
        --encoder random:0 --device cpu --out runs/demo
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

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..data.batches import check_gpu_decode, training_batches
from ..data.datasets import SYNTHETIC, RunOrder, crop_style, mix_seed, open_source
from ..data.imageio import save_image
from ..encoders import Encoder, geometry, load_encoder
from ..errors import InvertnetError
from ..files.downloads import file_hash
from ..inversion import resolve_weights
from ..models.generator import has_tail_biases
from ..models.kinds import training_geometry
from ..names import INVERTER
from ..precision import Precision
from ..weights.checkpoint import CHECKPOINT_NAME, Checkpoint, base_metadata, load_checkpoint
from . import distributed, run_folder, samples
from .calibrate import feature_term_warning
from .config import TrainConfig, check_launch
from .losses import build_comparator
from .runlock import run_lock
from .step import NonFiniteLoss, StepResult, StepValues, build_step, read_back
from .tensorboard_log import TensorBoardLog


@dataclass
class TrainResult:
    """How a run ended."""

    step: int
    out: Path
    interrupted: bool = False
    skipped_files: list[str] = field(default_factory=list)


class Trainer:
    """Builds the networks for a :class:`TrainConfig` (or resumes them) and runs the loop."""

    def __init__(self, config: TrainConfig, checkpoint: Checkpoint | None = None, *, encoder: Encoder | None = None) -> None:
        """A new run from ``config``, or, with ``checkpoint``, the run it was saved from (see :meth:`resume`).

        ``encoder``: a network no spec names (:class:`invertnet.encoders.ModuleEncoder`); the config records its identity.
        """
        self.out = Path(config.out)
        if checkpoint is None:
            run_folder.check_new_run(self.out, config.data)
        if encoder is not None:
            config.encoder = encoder.identity
        self.config = config
        self.loss = config.validate(encoder)
        self.context, self.device = distributed.setup(config.device)
        check_launch(config, self.device, self.context.distributed, self.context.world_size)
        self.local_batch = config.batch_size // self.context.world_size

        self.precision = Precision.resolve(config.precision, self.device)
        self.precision.configure_backends()
        fit = self.precision.module

        self.encoder = fit(load_encoder(config.encoder if encoder is None else encoder, device=self.device))
        self.source = open_source(config.data, "train")
        self.comparator = build_comparator(self.loss.comparator, self.encoder)
        if self.comparator is not None:
            fit(self.comparator)
        self.geometry = training_geometry(config.model, self.encoder)
        self.crops = crop_style(config.crops)
        if config.gpu_decode:  # refused now rather than when the loader starts
            check_gpu_decode(config.data == SYNTHETIC, self.geometry.resize, self.crops)
        start = self._initial_generator(config.init) if checkpoint is None and config.init is not None else None
        known = checkpoint or start
        tail_bias = known is not None and has_tail_biases(known.module_state("generator"))  # a file from before 0.2 goes on as it was
        torch.manual_seed(config.seed)  # the same initial weights in every process, whatever loading the encoder took from the RNG
        self.update = build_step(config, self.loss, self.context, self.device, self.precision, self.encoder, self.comparator, tail_bias)
        """What one step computes (:mod:`invertnet.training.step`); the trainer feeds it batches and keeps the run."""
        self.generator, self.g_optimizer, self.g_schedule = self.update.generator, self.update.g_optimizer, self.update.g_schedule
        """The network being trained: a :class:`Generator`, a :class:`VAE` or an :class:`Autoencoder` (saved as ``generator.*``)."""
        self.discriminator, self.d_optimizer, self.d_schedule = self.update.discriminator, self.update.d_optimizer, self.update.d_schedule
        self.gate = self.update.gate
        self.step = 0
        self.skipped: set[int] = set()
        self._signal_received: int | None = None  # set by a signal in this process
        self._stop_signal: int | None = None  # agreed by all processes during a step
        self._samples: torch.Tensor | None = None
        self.warnings: list[str] = []
        """What a user should know about this run before it goes on (a changed data folder)."""
        self.init_from: dict[str, object] | None = None
        """Where the generator started (``--init``): the value given, the file, its SHA-256 prefix and its step."""
        if start is not None:
            self._start_from(start)
        if checkpoint is not None:
            self._restore(checkpoint)
            recorded = checkpoint.config.get("init_from")
            self.init_from = recorded if isinstance(recorded, dict) else None
        elif self.comparator is not None:
            warning = feature_term_warning(self.comparator, self.loss, self.sample_images().to(self.device), self.encoder.identity,
                                           config.data, config.encoder)
            self.warnings += [warning] if warning else []

    @classmethod
    def resume(
        cls, out: str | os.PathLike[str], *, steps: int | None = None, device: str = "auto", workers: int | None = None,
        cuda_graph: bool | None = None, gpu_decode: bool | None = None, data: str | None = None, encoder: Encoder | None = None,
    ) -> Trainer:
        """Continue the run in ``out`` from its checkpoint, with its saved config.

        Only the total ``steps`` (to extend a run), the device, the loader workers,
        ``cuda_graph`` (how the step is launched, not what it computes), ``gpu_decode`` (which
        JPEG decoder makes the same crops) and ``data`` (where a moved data folder is now;
        :attr:`warnings` says if its file list changed) may change. ``encoder``: the module a run
        from Python was trained against (the checkpoint refuses any other).
        """
        path = Path(out) / CHECKPOINT_NAME
        if not path.is_file():
            raise InvertnetError(f"nothing to resume: {path} does not exist")
        checkpoint = load_checkpoint(path)
        try:
            config = TrainConfig.from_dict(checkpoint.config)
        except InvertnetError as error:
            raise InvertnetError(f"{path} is damaged: {error}") from None
        config.resumed_in(out, steps=steps, device=device, workers=workers, cuda_graph=cuda_graph, gpu_decode=gpu_decode, data=data)
        return cls(config, checkpoint, encoder=encoder)

    # ----------------------------------------------------------------- state
    def _initial_generator(self, value: str) -> Checkpoint:
        """The file ``--init`` names, read whole, after its own checks (the run's encoder settles a ``deepsim`` or default name)."""
        path = resolve_weights(value, self.config.layer if self.config.model == INVERTER else None, self.encoder)
        return load_checkpoint(path)

    def _start_from(self, start: Checkpoint) -> None:
        """Load the ``--init`` generator's weights, if it is one this run trains: the same kind, layer and encoder."""
        what = f"--init {self.config.init} ({start.path})"
        if start.model != self.config.model:
            kinds = {INVERTER: "a generator that inverts a layer", "vae": "a VAE", "autoencoder": "an autoencoder"}
            raise InvertnetError(f"{what} is {kinds.get(start.model, start.model)}; this run trains {kinds.get(self.config.model, self.config.model)}")
        if start.layer != self.config.layer:
            raise InvertnetError(f"{what} inverts {start.layer}; this run inverts {self.config.layer}: pass --layer {start.layer} or another generator")
        if start.encoder != self.encoder.identity:
            raise InvertnetError(f"{what} was trained against the encoder '{start.encoder}', not '{self.encoder.identity}': pass --encoder {start.encoder}")
        try:
            self.generator.load_state_dict(start.module_state("generator"))
        except RuntimeError as error:
            detail = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
            raise InvertnetError(f"{what}: its weights do not fit this run's generator ({detail}); is its --fc-width another?") from None
        if not all(torch.isfinite(t).all() for t in self.generator.state_dict().values()):
            raise InvertnetError(f"{what}: the generator has NaN or infinite weights")
        self.init_from = {"init": self.config.init, "file": str(start.path), "sha256": file_hash(start.path)[:16], "step": start.step}

    def _restore(self, checkpoint: Checkpoint) -> None:
        if checkpoint.encoder != self.encoder.identity:
            raise InvertnetError(f"{checkpoint.path} was trained against the encoder '{checkpoint.encoder}', not '{self.encoder.identity}'")
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
        self.update.load_state(checkpoint)
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
        config["init_from"] = self.init_from
        recorded = geometry(self.encoder).to_json(self.config.layer) if self.config.model == INVERTER else None
        return base_metadata(self.config.layer, self.encoder.identity, config, self.step, kind, self.config.model, recorded)

    def save(self) -> Path:
        """Write the training checkpoint, then the generator file (:func:`invertnet.training.run_folder.save`)."""
        state = {
            "gate_active": bool(self.gate.discriminator), "generator_active": bool(self.gate.generator), "skipped_indices": sorted(self.skipped),
            "world_size": self.context.world_size, "data_fingerprint": self.source.fingerprint,
        }
        return run_folder.save(self.out, self.update, self._metadata, state)

    # ------------------------------------------------------------------ step
    def train_step(self, images: torch.Tensor) -> StepResult:
        """One DeePSiM iteration (:class:`DeePSiMStep`) on this process's share of the batch ([0, 1] crops), with no host sync."""
        torch.manual_seed(mix_seed(self.config.seed, self.step, self.context.rank))  # dropout: a function of (seed, step, rank)
        return self.update(images.to(self.device, non_blocking=True), self._signal_received is not None)

    # --------------------------------------------------------------- outputs
    def sample_images(self) -> torch.Tensor:
        """Fixed images for the sample grids (:func:`invertnet.training.samples.fixed_images`), read once."""
        if self._samples is None:
            self._samples = samples.fixed_images(self.config.data, self.source, self.geometry, self.crops)
        return self._samples

    def write_samples(self, board: TensorBoardLog | None = None) -> Path:
        """The sample grid of this step (:func:`invertnet.training.samples.grid_of`) in the run folder (and on ``board``)."""
        title = f"{self.out.name}: step {self.step:,} of {self.config.steps:,} ({self.config.model}, {self.config.encoder}, loss {self.config.loss})"
        picture = samples.grid_of(
            self.config.model, self.config.layer, self.generator, self.encoder, self.sample_images().to(self.device), self.config.seed, title,
        )
        if board is not None:
            board.samples(picture, self.step)
        return save_image(picture, run_folder.sample_path(self.out, self.step))

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
            run_folder.prepare(self.out, {**asdict(self.config), "loss_config": self.loss.to_dict(), "init_from": self.init_from}, self.step)
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {s: signal.signal(s, self._handle_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        pending: list[StepResult] = []  # steps not read back yet (still on the device)
        window: list[StepValues] = []  # steps read back since the last log record
        board = TensorBoardLog(self.out, self.step) if main and self.config.log == "tensorboard" else None
        started = time.perf_counter()
        try:
            if self.step == 0 and main:
                self.write_samples(board)
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
                    record = run_folder.metrics_record(window, elapsed, self.step, self.config, len(self.skipped), self.update)
                    if main:
                        run_folder.append_metrics(self.out, record)
                        if board is not None:
                            board.record(record)
                        if on_log is not None:
                            on_log(record)
                    window, started = [], time.perf_counter()
                    stop = self._stop_signal is not None  # on_log may ask to stop
                if main and due["sample"]:
                    self.write_samples(board)
                if main and (due["checkpoint"] or stop):
                    self.save()
                if stop:
                    break
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if board is not None:
                board.close()
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
