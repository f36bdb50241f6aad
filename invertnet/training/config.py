"""What defines a training run: :class:`TrainConfig` (every setting, checked, saved in each checkpoint), the
limits it is checked against, the ``--preset paper`` settings, and what runs saved before a setting existed did."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from ..data.datasets import crop_style
from ..encoders import Encoder, EncoderSpec, default_comparator, input_size, layer_shapes, trainable_layer
from ..encoders.alexnet import MAX_SEED
from ..errors import InvertnetError, named
from ..models.kinds import AUTOENCODER, CODE_LAYERS, INVERTER, VAE_KIND, check_kind, check_width
from ..names import CAFFENET, DEFAULT_LAMBDA_KL, FC_WIDTH, LOGS, MAX_BATCH, PAPER_GAMMA, PAPER_MILESTONES, TRAIN_DEFAULTS
from ..precision import PRECISIONS
from .gate import PAPER, SCRIPT, Gate
from .losses import LossConfig
from .schedule import check_milestones
from .tensorboard_log import check_available

MAX_STEPS = 10**12


@dataclass
class TrainConfig:
    """Everything that defines a run; saved in every checkpoint so the run can be rebuilt from it."""

    layer: str = "fc6"
    data: str = "synthetic"
    model: str = TRAIN_DEFAULTS.model
    out: str = "runs/run"
    steps: int = TRAIN_DEFAULTS.steps
    batch_size: int = TRAIN_DEFAULTS.batch_size
    loss: str = TRAIN_DEFAULTS.loss
    comparator: str | None = None
    lambda_feat: float | None = None
    lambda_adv: float | None = None
    lambda_img: float | None = None
    image_loss: str = TRAIN_DEFAULTS.image_loss
    lambda_kl: float | None = None
    encoder: str = TRAIN_DEFAULTS.encoder
    device: str = TRAIN_DEFAULTS.device
    seed: int = TRAIN_DEFAULTS.seed
    lr: float = TRAIN_DEFAULTS.lr
    beta1: float = 0.9
    beta2: float = 0.999
    lr_milestones: tuple[int, ...] = TRAIN_DEFAULTS.lr_milestones
    lr_gamma: float = TRAIN_DEFAULTS.lr_gamma
    gate: str = TRAIN_DEFAULTS.gate
    gate_stop: float | None = None
    gate_resume: float | None = None
    gate_pause_generator: float | None = None
    d_weight_decay: float = TRAIN_DEFAULTS.d_weight_decay
    crops: str = TRAIN_DEFAULTS.crops
    checkpoint_every: int = TRAIN_DEFAULTS.checkpoint_every
    sample_every: int = TRAIN_DEFAULTS.sample_every
    log_every: int = TRAIN_DEFAULTS.log_every
    workers: int | None = None
    precision: str = TRAIN_DEFAULTS.precision
    compile: bool = TRAIN_DEFAULTS.compile
    cuda_graph: bool = False
    gpu_decode: bool = False
    fc_width: int = FC_WIDTH
    """The generator's fully connected width and the VAE's code size: 4096 as in the paper; smaller for quick runs and tests."""
    init: str | None = None
    """The generator a new run starts from (``--init``: a run folder, a generator file or ``deepsim:NAME``); D and the optimisers start fresh."""
    log: str = "jsonl"
    """Where the metrics go: ``jsonl`` (``metrics.jsonl``, always written), ``tensorboard`` (also TensorBoard event files)."""

    def validate(self, encoder: Encoder | None = None) -> LossConfig:
        """Check the values a user can get wrong; return the resolved loss.

        ``encoder``: the network itself, when it is not one a spec names (a module from Python);
        otherwise its layers are read from :attr:`encoder` without its weights.
        """
        check_kind(self.model)
        spec: str | Encoder = self.encoder if encoder is None else encoder
        family = encoder.family if encoder is not None else EncoderSpec.parse(self.encoder).family
        if self.model != INVERTER and family not in ("alexnet", CAFFENET):
            raise InvertnetError(f"the {self.model}'s encoder is AlexNet's or CaffeNet's convolutions; {family} has none of that shape")
        shapes = layer_shapes(spec)
        if self.model == INVERTER:
            trainable_layer(spec, self.layer)
        elif self.model == VAE_KIND and self.layer != CODE_LAYERS[VAE_KIND]:
            raise InvertnetError(f"the VAE's code is fc6 (its encoder is the network up to fc6, its decoder the fc6 generator), not {self.layer}")
        elif self.model == AUTOENCODER and self.layer != CODE_LAYERS[AUTOENCODER]:
            raise InvertnetError(f"an autoencoder inverts no encoder layer (its layer is 'code'), not {self.layer}")
        check_width(self.model, self.layer, self.fc_width, shapes[self.layer] if self.model == INVERTER else None,
                    encoder.input_size if encoder is not None else input_size(self.encoder), named("fc_width"))
        if self.lambda_kl is not None and self.model != VAE_KIND:
            raise InvertnetError(f"{named('lambda_kl')} weighs the VAE's KL term; {named('model')} {self.model} has none")
        for name in ("steps", "batch_size", "checkpoint_every", "sample_every", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvertnetError(f"{named(name)} must be a positive integer, got {value!r}")
        if self.workers is not None and self.workers < 0:
            raise InvertnetError(f"{named('workers')} must be >= 0, got {self.workers}")
        if self.log not in LOGS:
            raise InvertnetError(f"unknown {named('log')} {self.log!r}: choose one of {', '.join(LOGS)}")
        if self.log == "tensorboard":
            check_available()
        if self.precision not in PRECISIONS:
            raise InvertnetError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvertnetError(f"{named('lr')} must be a positive number, got {self.lr}")
        if self.steps > MAX_STEPS:
            raise InvertnetError(f"{named('steps')} {self.steps} is more than any run can take (at most {MAX_STEPS:,})")
        if self.batch_size > MAX_BATCH:
            raise InvertnetError(f"{named('batch_size')} {self.batch_size} is over invertnet's limit of {MAX_BATCH:,} (the paper used 64)")
        if not 0 <= self.seed <= MAX_SEED:
            raise InvertnetError(f"{named('seed')} must be an integer from 0 to {MAX_SEED}, got {self.seed}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise InvertnetError(f"{named(name)} must be in [0, 1), got {value}")
        self.lr_milestones = check_milestones(self.lr_milestones, self.lr_gamma)
        crop_style(self.crops)
        Gate(self.gate, self.gate_stop, self.gate_resume, self.gate_pause_generator)
        if not 0 <= self.d_weight_decay < math.inf:
            raise InvertnetError(f"{named('d_weight_decay')} must be a finite number >= 0, got {self.d_weight_decay}")
        if self.cuda_graph and self.compile:
            raise InvertnetError(f"{named('cuda_graph')} and {named('compile')} cannot be combined: choose one")
        lambda_kl = (DEFAULT_LAMBDA_KL if self.lambda_kl is None else self.lambda_kl) if self.model == VAE_KIND else 0.0
        return LossConfig.from_preset(
            self.loss, self.comparator, self.lambda_feat, self.lambda_adv, self.lambda_img, self.image_loss, lambda_kl,
            tuple(shapes), default_comparator(spec),
        )

    def resumed_in(
        self, out: str | os.PathLike[str], *, steps: int | None, device: str, workers: int | None,
        cuda_graph: bool | None, gpu_decode: bool | None, data: str | None,
    ) -> None:
        """This saved config, resumed in ``out`` with what a resume may change (see :meth:`Trainer.resume`)."""
        self.out, self.device, self.workers = str(out), device, workers
        if steps is not None:
            self.steps = steps
        if cuda_graph is not None:
            self.cuda_graph = cuda_graph
        if gpu_decode is not None:
            self.gpu_decode = gpu_decode
        if data is not None:
            self.data = str(data)
        elif self.data != "synthetic" and not Path(self.data).exists():
            raise InvertnetError(f"the run's data folder {self.data} is gone: if it moved, pass its new place with --data")

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> TrainConfig:
        """The config saved in a checkpoint; a run saved before a setting existed gets what it trained with.

        Every value must have the type invertnet writes for its field (a file is hostile input):
        one clear error names the first that does not.
        """
        types = {f.name: str(f.type) for f in fields(cls)}
        if "alexnet" in values and "encoder" not in values:  # saved before 0.3, when the encoder was --alexnet
            values = {**values, "encoder": values["alexnet"]}
        kept = {k: v for k, v in values.items() if k in types}
        for name, before in LEGACY.items():
            kept.setdefault(name, before)
        for name, value in kept.items():
            if not _has_type(value, types[name]):
                raise InvertnetError(f"its config's {name} is {str(value)[:40]!r}, not a value of type {types[name]}")
        kept["lr_milestones"] = tuple(kept["lr_milestones"])  # type: ignore[arg-type]
        return cls(**kept)  # type: ignore[arg-type]


def _has_type(value: object, annotation: str) -> bool:
    """Whether ``value``, read from JSON, is one of the types ``annotation`` names (``float | None``, ``tuple[int, ...]``...)."""
    for name in (part.strip() for part in annotation.split("|")):
        if name == "None" and value is None:
            return True
        if isinstance(value, bool):
            if name == "bool":
                return True
            continue
        if (name == "int" and isinstance(value, int)) or (name == "str" and isinstance(value, str)):
            return True
        if name == "float" and isinstance(value, (int, float)):
            return True
        if name == "tuple[int, ...]" and isinstance(value, (list, tuple)) and all(_has_type(item, "int") for item in value):
            return True
    return False


PAPER_SETTINGS: dict[str, object] = {
    "encoder": "caffenet", "crops": "caffe", "precision": "fp32", "d_weight_decay": 4e-4,
    "gate": SCRIPT, "lr_milestones": PAPER_MILESTONES, "lr_gamma": PAPER_GAMMA,
}
"""``--preset paper``: the authors' training as far as it is known (each fact's source in README and docs/results.md):
CaffeNet, crops of 256x256 images without mirroring, fp32 (Caffe had no bf16), the release solver's
discriminator weight decay, the script's gate and the solver's schedule (the last two are the defaults anyway)."""


LEGACY: dict[str, object] = {"gate": PAPER, "lr_milestones": ()}
"""What runs saved before the gate and the schedule were settings did: the paper's gate and a constant rate."""


def check_launch(config: TrainConfig, device: torch.device, distributed: bool, world_size: int) -> None:
    """Refuse settings this machine or launch cannot run: CUDA-only options elsewhere, a batch that does not split evenly."""
    if config.cuda_graph and device.type != "cuda":
        raise InvertnetError(f"{named('cuda_graph')} needs a CUDA device, not {device}")
    if config.cuda_graph and distributed:
        raise InvertnetError(f"{named('cuda_graph')} trains on one process; under torchrun leave it off")
    if config.gpu_decode and device.type != "cuda":
        raise InvertnetError(f"{named('gpu_decode')} decodes JPEGs with nvJPEG on a CUDA device, not {device}: leave it off (--no-gpu-decode)")
    if config.batch_size % world_size:
        raise InvertnetError(f"{named('batch_size')} {config.batch_size} (the global batch) must be divisible by the {world_size} processes")
