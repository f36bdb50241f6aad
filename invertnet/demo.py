"""A complete offline tour: train a small generator, then invert, re-encode, interpolate, evaluate.

Everything runs without downloads: a random-weight AlexNet (``random:0``, variance-preserving)
and the synthetic dead-leaves images. The generator inverts conv5 and is trained with the
image-space loss alone (preset ``image``): of the paper's losses it is the one that learns
the layout of its input fastest, so that 1,600 training images on a CPU (under a minute and
a half on two cores) give reconstructions that follow their inputs' colours and large regions
and beat the best constant image, the mean training image, in image error. The demo measures
both and prints them. It shows that the tool learns to invert; it has no adversarial stage:
at this scale fine-tuning with the paper's adversarial term loses layout and draws a lattice
instead of detail (measured in docs/results.md, "The adversarial term on a CPU").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .data.captions import labelled_rows
from .data.datasets import DeadLeaves, eval_batches, eval_crop
from .data.imageio import load_image, save_gif, save_image
from .errors import InvertnetError
from .evaluation.metrics import pairwise_mean_distance
from .evaluation.protocol import EvalResult, eval_record, evaluate_methods, generator_method, mean_image, mean_method
from .files.atomic import atomic_path
from .inversion import Inverter
from .training import TrainConfig, Trainer

DEMO_ENCODER = "random:0"
DEMO_LOSS = "image"
MEAN_IMAGES = 256


@dataclass
class DemoResult:
    """Where the demo put its pictures, and the evaluation it ran."""

    run: Path
    invert: Path
    reencode: Path
    interpolate: Path
    gif: Path
    results_json: Path
    result: EvalResult
    baseline: EvalResult
    """The mean training image as every reconstruction: what the generator must beat."""
    spread: float
    """Mean distance between the reconstructions of different test images over that between
    the images themselves: 0 for a generator that ignores its input."""


def check_demo_folder(out: Path) -> None:
    """A demo starts from nothing: refuse a folder that already holds one (the demo has no --resume)."""
    if (out / "run").exists():
        raise InvertnetError(f"{out} already holds a demo run: choose another --out, or delete {out}")


def run_demo(
    out: str | Path = "demo",
    *,
    layer: str = "conv5",
    steps: int = 200,
    batch_size: int = 8,
    device: str = "cpu",
    eval_images: int = 32,
    on_start: Callable[[Trainer], None] | None = None,
    on_log: Callable[[dict[str, object]], None] | None = None,
) -> DemoResult:
    """Train on synthetic images against ``random:0``, then use the generator every way the CLI does."""
    out = Path(out)
    check_demo_folder(out)
    config = TrainConfig(
        layer=layer, data="synthetic", out=str(out / "run"), steps=steps, batch_size=batch_size, loss=DEMO_LOSS, encoder=DEMO_ENCODER,
        device=device, log_every=max(1, steps // 20), sample_every=max(1, steps // 4), checkpoint_every=steps,
    )
    trainer = Trainer(config)
    if on_start is not None:
        on_start(trainer)
    trainer.run(on_log=on_log)
    held_out = DeadLeaves("val")
    files = [save_image(held_out.load(i), out / "images" / f"{held_out.name(i)}.png") for i in range(4)]
    inputs = torch.stack([eval_crop(load_image(path)) for path in files])
    inverter = Inverter.load(layer, out / "run", encoder=DEMO_ENCODER, device=device)
    recon = inverter.invert(inputs).cpu()
    what = f"{layer} generator of the demo, AlexNet {DEMO_ENCODER}"
    invert_png = save_image(labelled_rows([("input", inputs), (f"reconstruction from {layer}", recon)], title=what), out / "invert.png")
    iterates = inverter.reencode(inputs[0], 6).cpu()
    reencode_png = save_image(
        labelled_rows([("", iterates)], columns=["input", *(f"iteration {k}" for k in range(1, len(iterates)))], title=f"re-encoding: {what}"),
        out / "reencode.png",
    )
    frames = inverter.interpolate(inputs[0], inputs[1], 8).cpu()
    fractions = [f"{k / (len(frames) - 1):.2f}" for k in range(len(frames))]
    interpolate_png = save_image(
        labelled_rows([("", torch.cat([inputs[:1], frames, inputs[1:2]]))], columns=["A", *fractions, "B"], title=f"interpolation: {what}"),
        out / "interpolate.png",
    )
    gif = save_gif(list(frames), out / "interpolate.gif")
    mean = mean_image(DeadLeaves("train"), MEAN_IMAGES)
    methods = [generator_method(inverter), mean_method(mean, layer, f"mean of {MEAN_IMAGES} images of synthetic (train)")]
    result, baseline = evaluate_methods(methods, inverter.encoder, held_out, limit=eval_images, data_name="synthetic (val)")
    test_images = torch.cat([images for _, images in eval_batches(held_out, eval_images, 32)])
    reconstructions = inverter.invert(test_images).cpu()
    spread = pairwise_mean_distance(reconstructions.flatten(1)) / pairwise_mean_distance(test_images.flatten(1))
    results_json = out / "results.json"
    settings = {"data": "synthetic", "split": "val", "limit": eval_images, "images": eval_images, "crops": "torchvision", "clamped": True,
                "preset": "default", "seed": None, "iterations": None, "mean_images": MEAN_IMAGES, "device": str(device)}
    summary = {**eval_record([result, baseline], settings), "reconstruction_spread": spread}
    with atomic_path(results_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return DemoResult(out / "run", invert_png, reencode_png, interpolate_png, gif, results_json, result, baseline, spread)
