"""``invertnet train``: train a DeePSiM generator for one layer, a VAE or an autoencoder (see :mod:`invertnet.training.loop`).

    invertnet train --layer fc6 --data /data/imagenet --out runs/fc6
    invertnet train --model vae --data /data/imagenet --out runs/vae
    invertnet train --model autoencoder --data /data/stl10/unlabeled --out runs/ae
    torchrun --nproc-per-node 8 -m invertnet train --layer fc6 --data /data/imagenet --out runs/fc6
"""

from __future__ import annotations

import signal

import typer

from ..errors import InvertnetError
from ..names import AUTOENCODER, DEFAULT_LAMBDA_KL, FC_WIDTH, INVERTER, LOSS_PRESETS, SYNTHETIC
from ..names import TRAIN_DEFAULTS as DEFAULTS
from .common import announce, given, refuse, stderr
from .options import (
    COMPARATOR_HELP,
    Crops,
    GateRule,
    ImageLoss,
    LossPreset,
    ModelKind,
    Precision,
    Preset,
    TrainLog,
    device_option,
    encoder_option,
    flag,
    layer_option,
    plain,
)
from .progress import TrainDisplay

DATA, MODEL, LOSS, OPTIMISATION, SPEED, OUTPUT = "Data", "Model", "Loss", "Optimisation", "Speed", "Output and resuming"
"""The groups of ``train --help``."""

RESUMABLE = ("out", "resume", "steps", "device", "workers", "cuda_graph", "gpu_decode", "data")
"""What ``--resume`` may change; everything else is the run's saved settings."""


def train(
    ctx: typer.Context,
    layer: str | None = layer_option(
        help="Layer to invert, one of the encoder's (invertnet layers SPEC lists them); AlexNet's fc8 is the logits, prob their softmax "
        "(--model inverter; a VAE's is fc6).", rich_help_panel=MODEL,
    ),
    model: ModelKind = typer.Option(DEFAULTS.model, "--model", rich_help_panel=MODEL, help="What to train: the paper's section 4.2 VAE; arXiv v1's autoencoder."),
    encoder: str = encoder_option(DEFAULTS.encoder, MODEL),
    fc_width: int = typer.Option(
        FC_WIDTH, "--fc-width", metavar="N", rich_help_panel=MODEL,
        help="Width of the generator's fully connected layers and the VAE's code (Table 1's); smaller for quick runs. "
        "Generators of a feature map (conv5's) and the autoencoder have none.",
    ),
    init: str | None = typer.Option(
        None, "--init", metavar="WEIGHTS", show_default=False, rich_help_panel=MODEL,
        help="Start the generator from this one (a run folder, a generator file, deepsim:NAME): the same kind, layer and encoder; "
        "the discriminator and the optimisers start fresh [default: a fresh generator].",
    ),
    data: str | None = typer.Option(
        None, "--data", metavar="FOLDER", show_default=False, rich_help_panel=DATA, help="An image folder, an ILSVRC-2012 root (train/ val/), or 'synthetic'.",
    ),
    crops: Crops = typer.Option(
        DEFAULTS.crops, "--crops", rich_help_panel=DATA, help="torchvision: short side to 256 and mirrored crops; caffe: 256x256 images and unmirrored crops (the authors').",
    ),
    workers: int | None = typer.Option(
        None, "--workers", metavar="N", show_default=False, rich_help_panel=DATA,
        help="Data loader processes [default: the CPU cores per process, up to 16, on CUDA; 1 on CPU].",
    ),
    loss: LossPreset = typer.Option(
        DEFAULTS.loss, "--loss", metavar="PRESET", rich_help_panel=LOSS,
        help=f"Which terms of Fig. 1 (feature, adversarial, image): {', '.join(LOSS_PRESETS)}.",
    ),
    comparator: str | None = typer.Option(
        None, "--comparator", metavar="LAYER", show_default=False, rich_help_panel=LOSS, help=COMPARATOR_HELP,
    ),
    lambda_feat: float | None = typer.Option(None, "--lambda-feat", metavar="W", show_default=False, rich_help_panel=LOSS, help="Weight of the feature term [default: 0.01]."),
    lambda_adv: float | None = typer.Option(None, "--lambda-adv", metavar="W", show_default=False, rich_help_panel=LOSS, help="Weight of the adversarial term [default: 100]."),
    lambda_img: float | None = typer.Option(
        None, "--lambda-img", metavar="W", show_default=False, rich_help_panel=LOSS, help="Weight of the image term [default: 2e-6 for l2, 6e-5 for l1, 1000 for ms-ssim].",
    ),
    image_loss: ImageLoss = typer.Option(DEFAULTS.image_loss, "--image-loss", rich_help_panel=LOSS, help="The image-space term."),
    lambda_kl: float | None = typer.Option(
        None, "--lambda-kl", metavar="W", show_default=False, rich_help_panel=LOSS, help=f"Weight of the VAE's KL term (eq. 8) [default: {DEFAULT_LAMBDA_KL:g}].",
    ),
    gate: GateRule = typer.Option(
        DEFAULTS.gate, "--gate", rich_help_panel=LOSS,
        help="script: the authors' script (D first; pauses D below 0.1, resumes above 0.5, pauses G above 10); "
        "paper: the paper's sentence (pauses D below 0.1).",
    ),
    gate_stop: float | None = typer.Option(None, "--gate-stop", metavar="R", show_default=False, rich_help_panel=LOSS, help="Pause D when L_discr / L_adv is below this [default: 0.1]."),
    gate_resume: float | None = typer.Option(
        None, "--gate-resume", metavar="R", show_default=False, rich_help_panel=LOSS, help="Resume a paused D once the ratio passes this [default: 0.5 for script, 0.1 for paper].",
    ),
    gate_pause_generator: float | None = typer.Option(
        None, "--gate-pause-generator", metavar="R", show_default=False, rich_help_panel=LOSS,
        help="--gate script: pause G when the ratio is above this, until it falls below --gate-stop [default: 10].",
    ),
    steps: int | None = typer.Option(None, "--steps", metavar="N", show_default=False, rich_help_panel=OPTIMISATION, help=f"Total training steps [default: {DEFAULTS.steps:,}]."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, "--batch-size", "-b", metavar="N", rich_help_panel=OPTIMISATION, help="Images per step, over all processes."),
    lr: float = typer.Option(DEFAULTS.lr, "--lr", metavar="RATE", rich_help_panel=OPTIMISATION, help="Adam learning rate for both networks."),
    lr_milestones: str = typer.Option(
        ",".join(f"{m // 1000}k" for m in DEFAULTS.lr_milestones), "--lr-milestones", metavar="N,N,...", rich_help_panel=OPTIMISATION,
        help="Multiply the rate by --lr-gamma after each of these counts of a network's updates ('none': a constant rate); the authors' solver's.",
    ),
    lr_gamma: float = typer.Option(DEFAULTS.lr_gamma, "--lr-gamma", metavar="F", rich_help_panel=OPTIMISATION, help="The factor applied at each milestone."),
    d_weight_decay: float = typer.Option(
        DEFAULTS.d_weight_decay, "--d-weight-decay", metavar="W", rich_help_panel=OPTIMISATION, help="L2 weight decay of the discriminator (4e-4 in the authors' solver).",
    ),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", metavar="N", rich_help_panel=OPTIMISATION, help="Seeds initialisation, data order and augmentation."),
    preset: Preset = typer.Option(
        "default", "--preset", rich_help_panel=OPTIMISATION,
        help="paper: the authors' training (--encoder caffenet --crops caffe --precision fp32 --d-weight-decay 4e-4, "
        "the script's gate and the solver's schedule); options given beside it override it.",
    ),
    device: str = device_option(SPEED),
    precision: Precision = typer.Option(DEFAULTS.precision, "--precision", rich_help_panel=SPEED, help="bf16: autocast and channels_last; fp32; auto: bf16 on CUDA, else fp32."),
    compile: bool = flag(DEFAULTS.compile, "--compile/--no-compile", rich_help_panel=SPEED, help="torch.compile the generator and discriminator."),
    cuda_graph: bool | None = flag(
        None, "--cuda-graph/--no-cuda-graph", show_default=False, rich_help_panel=SPEED,
        help="Capture the training step into a CUDA graph after a few eager steps and replay it (one GPU) [default: off; with --resume, the run's own].",
    ),
    gpu_decode: bool | None = flag(
        None, "--gpu-decode/--no-gpu-decode", show_default=False, rich_help_panel=SPEED,
        help="Decode JPEG files on the GPU with nvJPEG; the workers only read them (other files: Pillow, in the workers) [default: off; with --resume, the run's own].",
    ),
    out: str = typer.Option(..., "--out", "-o", metavar="FOLDER", rich_help_panel=OUTPUT, help="Run folder: checkpoints, samples, metrics.jsonl."),
    checkpoint_every: int = typer.Option(DEFAULTS.checkpoint_every, "--checkpoint-every", metavar="N", rich_help_panel=OUTPUT, help="Save every N steps (and at the end)."),
    sample_every: int = typer.Option(DEFAULTS.sample_every, "--sample-every", metavar="N", rich_help_panel=OUTPUT, help="Write a sample grid every N steps (and at the end)."),
    log_every: int = typer.Option(DEFAULTS.log_every, "--log-every", metavar="N", rich_help_panel=OUTPUT, help="Append to metrics.jsonl every N steps."),
    log: TrainLog = typer.Option(  # type: ignore[valid-type]
        "jsonl", "--log", rich_help_panel=OUTPUT,
        help="jsonl: metrics.jsonl alone; tensorboard: also TensorBoard event files in FOLDER/tensorboard (needs the tensorboard package).",
    ),
    resume: bool = flag(False, "--resume", rich_help_panel=OUTPUT, help="Continue the run in --out from its checkpoint (its saved settings apply)."),
) -> int:
    """Train with the DeePSiM loss: a generator that inverts LAYER of the encoder (--encoder), a VAE, or an autoencoder."""
    from ..models.kinds import CODE_LAYERS
    from ..training import distributed
    from ..training.config import PAPER_SETTINGS, TrainConfig
    from ..training.loop import Trainer
    from ..training.schedule import parse_milestones

    if resume:
        others = [param.name for param in ctx.command.params if param.name not in RESUMABLE]
        refuse(ctx, others, "with --resume: a run resumes with the settings it was started with (see its config.json); "
               "only --steps, --device, --workers, --cuda-graph, --gpu-decode and --data (a moved folder) may change")
        trainer = Trainer.resume(out, steps=steps, device=device, workers=workers, cuda_graph=cuda_graph, gpu_decode=gpu_decode, data=data)
        stderr.print(f"resuming {out} at step {trainer.step} of {trainer.config.steps}", highlight=False)
        for warning in trainer.warnings:
            stderr.print(f"invertnet: warning: {warning}", highlight=False, soft_wrap=True)
    else:
        if data is None or (layer is None and model == INVERTER):
            raise InvertnetError(f"train needs {'--layer and ' if model == INVERTER else ''}--data (or --resume to continue a run)")
        if model == AUTOENCODER:
            refuse(ctx, ["layer"], "to --model autoencoder: it inverts no encoder layer (the encoder is its comparator)")
        layer = layer or CODE_LAYERS[model]  # a VAE's --layer other than fc6 is refused by the config
        if not LOSS_PRESETS[loss][1]:
            refuse(ctx, ["gate", "gate_stop", "gate_resume", "gate_pause_generator", "d_weight_decay"],
                   f"to loss preset {loss!r}, which has no adversarial term: no discriminator is trained")
        config = TrainConfig(
            layer=layer, data=data, out=out, model=model, lambda_kl=lambda_kl, steps=DEFAULTS.steps if steps is None else steps, batch_size=batch_size,
            loss=loss, comparator=comparator, lambda_feat=lambda_feat, lambda_adv=lambda_adv, lambda_img=lambda_img, image_loss=image_loss,
            encoder=encoder, device=device, seed=seed, lr=lr, lr_milestones=parse_milestones(lr_milestones), lr_gamma=lr_gamma,
            gate=gate, gate_stop=gate_stop, gate_resume=gate_resume, gate_pause_generator=gate_pause_generator, d_weight_decay=d_weight_decay,
            checkpoint_every=checkpoint_every, sample_every=sample_every, log_every=log_every, workers=workers,
            precision=precision, compile=compile, cuda_graph=bool(cuda_graph), gpu_decode=bool(gpu_decode), crops=crops, init=init,
            log=log, fc_width=fc_width,
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
            with TrainDisplay() as display:
                display.start(trainer)
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
    app.command("train", short_help="Train a generator, a VAE or an autoencoder with the DeePSiM loss.")(plain(train))
