"""``invertnet train``: train a DeePSiM generator for one layer, a VAE or an autoencoder (see :mod:`invertnet.training.loop`).

    invertnet train --layer fc6 --data /data/imagenet --out runs/fc6
    invertnet train --model vae --data /data/imagenet --out runs/vae
    invertnet train --model autoencoder --data /data/stl10/unlabeled --out runs/ae
    torchrun --nproc-per-node 8 -m invertnet train --layer fc6 --data /data/imagenet --out runs/fc6
"""

from __future__ import annotations

import signal
import time

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..data.datasets import CROP_STYLES, SYNTHETIC
from ..errors import InvertnetError
from ..models.kinds import AUTOENCODER, CODE_LAYERS, DEFAULT_LAMBDA_KL, INVERTER, MODEL_KINDS, check_kind
from ..precision import PRECISIONS
from ..training import distributed
from ..training.config import PAPER_SETTINGS, TRAIN_PRESETS, TrainConfig
from ..training.gate import GATES
from ..training.loop import Trainer
from ..training.losses import COMPARATORS, IMAGE_LOSSES, PRESETS
from ..training.schedule import parse_milestones
from .common import DEVICE, TRAIN_ALEXNET, announce, given, refuse, stderr

DEFAULTS = TrainConfig()


def _describe(record: dict[str, object]) -> str:
    terms = " ".join(f"{k}={record[k]:.4g}" for k in ("loss", "feat", "adv", "img", "kl", "discr") if k in record)
    d = f" D={'on' if record['d_updated'] else 'paused'}" if "d_updated" in record else ""
    d += " G=paused" if record.get("g_updated") is False else ""
    skipped = f" skipped={record['skipped_files']}" if record.get("skipped_files") else ""
    return f"{terms}{d} {record['images_per_s']:.1f} img/s{skipped}"


class TrainDisplay:
    """A live progress bar on a terminal; one plain line per log record otherwise (batch jobs)."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.live = stderr.is_terminal
        self.started = time.perf_counter()
        self.first_step = trainer.step
        self.progress = Progress(
            TextColumn("step"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
            console=stderr, disable=not self.live,
        )
        self.task = self.progress.add_task("train", total=trainer.config.steps, completed=trainer.step, status="starting")

    def __enter__(self) -> TrainDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, record: dict[str, object]) -> None:
        status = _describe(record)
        self.progress.update(self.task, completed=int(record["step"]), status=status)
        if not self.live:
            done = int(record["step"]) - self.first_step
            elapsed = time.perf_counter() - self.started
            eta = elapsed / max(done, 1) * (self.trainer.config.steps - int(record["step"]))
            stderr.print(f"step {record['step']}/{self.trainer.config.steps} {status} eta {eta:.0f}s", highlight=False, soft_wrap=True)


RESUMABLE = ("out", "resume", "steps", "device", "workers", "cuda_graph", "gpu_decode", "data")
"""What ``--resume`` may change; everything else is the run's saved settings."""


def train(
    ctx: typer.Context,
    layer: str | None = typer.Option(None, "--layer", "-l", help="Layer to invert: conv5, fc6, fc7, fc8 (logits) or prob (their softmax) (--model inverter; a VAE's is fc6)."),
    model: str = typer.Option(DEFAULTS.model, "--model", help=f"What to train: {', '.join(MODEL_KINDS)} (the paper's section 4.2 VAE; arXiv v1's autoencoder)."),
    data: str | None = typer.Option(None, "--data", help="An image folder, an ILSVRC-2012 root (train/ val/), or 'synthetic'."),
    out: str = typer.Option(..., "--out", "-o", help="Run folder: checkpoints, samples, metrics.jsonl."),
    steps: int | None = typer.Option(None, "--steps", help=f"Total training steps [default: {DEFAULTS.steps}]."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, "--batch-size", "-b", help="Images per step, over all processes."),
    loss: str = typer.Option(DEFAULTS.loss, "--loss", help=f"Loss preset: {', '.join(PRESETS)}."),
    comparator: str | None = typer.Option(None, "--comparator", help=f"Feature-loss comparator: {', '.join(COMPARATORS)} [default: conv5 if the preset has a feature term]."),
    lambda_feat: float | None = typer.Option(None, "--lambda-feat", help="Weight of the feature term [default: 0.01]."),
    lambda_adv: float | None = typer.Option(None, "--lambda-adv", help="Weight of the adversarial term [default: 100]."),
    lambda_img: float | None = typer.Option(None, "--lambda-img", help="Weight of the image term [default: 2e-6 for l2, 6e-5 for l1, 1000 for ms-ssim]."),
    image_loss: str = typer.Option("l2", "--image-loss", help=f"Image-space term: {', '.join(IMAGE_LOSSES)}."),
    lambda_kl: float | None = typer.Option(None, "--lambda-kl", help=f"Weight of the VAE's KL term (eq. 8) [default: {DEFAULT_LAMBDA_KL:g}]."),
    alexnet: str = TRAIN_ALEXNET,
    device: str = DEVICE,
    seed: int = typer.Option(DEFAULTS.seed, "--seed", help="Seeds initialisation, data order and augmentation."),
    lr: float = typer.Option(DEFAULTS.lr, "--lr", help="Adam learning rate for both networks."),
    lr_milestones: str = typer.Option(
        ",".join(f"{m // 1000}k" for m in DEFAULTS.lr_milestones), "--lr-milestones",
        help="Multiply the rate by --lr-gamma after each of these counts of a network's updates ('none': a constant rate); the authors' solver's.",
    ),
    lr_gamma: float = typer.Option(DEFAULTS.lr_gamma, "--lr-gamma", help="The factor applied at each milestone."),
    gate: str = typer.Option(
        DEFAULTS.gate, "--gate",
        help=f"{', '.join(GATES)}: the authors' script (D first; pauses D below 0.1, resumes above 0.5, pauses G above 10) "
        "or the paper's sentence (pauses D below 0.1).",
    ),
    gate_stop: float | None = typer.Option(None, "--gate-stop", help="Pause D when L_discr / L_adv is below this [default: 0.1]."),
    gate_resume: float | None = typer.Option(None, "--gate-resume", help="Resume a paused D once the ratio passes this [default: 0.5 for script, 0.1 for paper]."),
    gate_pause_generator: float | None = typer.Option(
        None, "--gate-pause-generator", help="--gate script: pause G when the ratio is above this, until it falls below --gate-stop [default: 10].",
    ),
    d_weight_decay: float = typer.Option(DEFAULTS.d_weight_decay, "--d-weight-decay", help="L2 weight decay of the discriminator (4e-4 in the authors' solver)."),
    checkpoint_every: int = typer.Option(DEFAULTS.checkpoint_every, "--checkpoint-every", help="Save every N steps (and at the end)."),
    sample_every: int = typer.Option(DEFAULTS.sample_every, "--sample-every", help="Write a sample grid every N steps (and at the end)."),
    log_every: int = typer.Option(DEFAULTS.log_every, "--log-every", help="Append to metrics.jsonl every N steps."),
    workers: int | None = typer.Option(None, "--workers", help="Data loader processes [default: the CPU cores per process, up to 16, on CUDA; 1 on CPU]."),
    precision: str = typer.Option(DEFAULTS.precision, "--precision", help=f"{', '.join(PRECISIONS)}: bf16 autocast and channels_last, or plain fp32; auto is bf16 on CUDA."),
    compile: bool = typer.Option(DEFAULTS.compile, "--compile/--no-compile", help="torch.compile the generator and discriminator."),
    cuda_graph: bool | None = typer.Option(
        None, "--cuda-graph/--no-cuda-graph",
        help="Capture the training step into a CUDA graph after a few eager steps and replay it (one GPU) [default: off; with --resume, the run's own].",
    ),
    gpu_decode: bool | None = typer.Option(
        None, "--gpu-decode/--no-gpu-decode",
        help="Decode JPEG files on the GPU with nvJPEG; the workers only read them (other files: Pillow, in the workers) [default: off; with --resume, the run's own].",
    ),
    crops: str = typer.Option(
        DEFAULTS.crops, "--crops", help=f"{', '.join(CROP_STYLES)}: short side to 256 and mirrored crops, or 256x256 images and unmirrored crops (the authors')."
    ),
    preset: str = typer.Option(
        "default", "--preset",
        help="paper: the authors' training (--alexnet caffenet --crops caffe --precision fp32 --d-weight-decay 4e-4, "
        "the script's gate and the solver's schedule); options given beside it override it.",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint (its saved settings apply)."),
) -> int:
    """Train with the DeePSiM loss: a generator that inverts LAYER of the encoder (--alexnet), a VAE, or an autoencoder."""
    if resume:
        others = [param.name for param in ctx.command.params if param.name not in RESUMABLE]
        refuse(ctx, others, "with --resume: a run resumes with the settings it was started with (see its config.json); "
               "only --steps, --device, --workers, --cuda-graph, --gpu-decode and --data (a moved folder) may change")
        trainer = Trainer.resume(out, steps=steps, device=device, workers=workers, cuda_graph=cuda_graph, gpu_decode=gpu_decode, data=data)
        stderr.print(f"resuming {out} at step {trainer.step} of {trainer.config.steps}", highlight=False)
        for warning in trainer.warnings:
            stderr.print(f"invertnet: warning: {warning}", highlight=False, soft_wrap=True)
    else:
        check_kind(model)
        if data is None or (layer is None and model == INVERTER):
            raise InvertnetError(f"train needs {'--layer and ' if model == INVERTER else ''}--data (or --resume to continue a run)")
        if model == AUTOENCODER:
            refuse(ctx, ["layer"], "to --model autoencoder: it inverts no encoder layer (the encoder is its comparator)")
        layer = layer or CODE_LAYERS[model]  # a VAE's --layer other than fc6 is refused by the config
        if preset not in TRAIN_PRESETS:
            raise InvertnetError(f"unknown --preset {preset!r}: choose one of {', '.join(TRAIN_PRESETS)}")
        if loss in PRESETS and not PRESETS[loss][1]:
            refuse(ctx, ["gate", "gate_stop", "gate_resume", "gate_pause_generator", "d_weight_decay"],
                   f"to loss preset {loss!r}, which has no adversarial term: no discriminator is trained")
        config = TrainConfig(
            layer=layer, data=data, out=out, model=model, lambda_kl=lambda_kl, steps=DEFAULTS.steps if steps is None else steps, batch_size=batch_size,
            loss=loss, comparator=comparator, lambda_feat=lambda_feat, lambda_adv=lambda_adv, lambda_img=lambda_img, image_loss=image_loss,
            alexnet=alexnet, device=device, seed=seed, lr=lr, lr_milestones=parse_milestones(lr_milestones), lr_gamma=lr_gamma,
            gate=gate, gate_stop=gate_stop, gate_resume=gate_resume, gate_pause_generator=gate_pause_generator, d_weight_decay=d_weight_decay,
            checkpoint_every=checkpoint_every, sample_every=sample_every, log_every=log_every, workers=workers,
            precision=precision, compile=compile, cuda_graph=bool(cuda_graph), gpu_decode=bool(gpu_decode), crops=crops,
        )
        if preset == "paper":
            for name, value in PAPER_SETTINGS.items():
                if not given(ctx, name):
                    setattr(config, name, value)
        trainer = Trainer(config)
        for warning in trainer.warnings:
            stderr.print(f"invertnet: warning: {warning}", highlight=False, soft_wrap=True)
    if trainer.config.data == SYNTHETIC:
        refuse(ctx, ["workers"], "to --data synthetic: it is painted on the training device, with no loader processes")
    try:
        if trainer.context.is_main:
            with TrainDisplay(trainer) as display:
                result = trainer.run(on_log=display.update)
        else:
            result = trainer.run()
    except KeyboardInterrupt:  # a second signal while the first was being honoured
        stderr.print(
            f"invertnet: stopped at once by a second signal, before a new checkpoint was complete; "
            f"{out} keeps its last complete checkpoint. Continue with: invertnet train --out {out} --resume",
            highlight=False, soft_wrap=True,
        )
        return 130
    finally:
        distributed.teardown()
    code = 128 + int(trainer.stop_signal or signal.SIGINT) if result.interrupted else 0
    if not trainer.context.is_main:
        return code
    if result.skipped_files:
        stderr.print(f"skipped {len(result.skipped_files)} unreadable files: {', '.join(result.skipped_files[:5])}{' ...' if len(result.skipped_files) > 5 else ''}", highlight=False)
    announce(result.out / "generator.safetensors")
    if result.interrupted:
        stderr.print(f"stopped at step {result.step}; checkpoint saved. Continue with: invertnet train --out {out} --resume", highlight=False)
    return code


def register(app: typer.Typer) -> None:
    app.command("train")(train)
