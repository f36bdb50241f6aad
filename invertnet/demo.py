"""A complete offline tour: train a small generator, then invert, re-encode, interpolate, evaluate.

Everything runs without downloads: a random-weight AlexNet (``random:0``) and the synthetic
dead-leaves images. It shows the tool works end to end on a CPU in a few minutes; the
pictures are blurry because the run is tiny, not because anything is faked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import DeadLeaves, eval_crop
from .evaluation import EvalResult, evaluate
from .imageio import grid, load_image, save_gif, save_image, strip
from .inversion import Inverter
from .train import TrainConfig, Trainer

DEMO_ALEXNET = "random:0"


@dataclass
class DemoResult:
    """Where the demo put its pictures, and the evaluation it ran."""

    run: Path
    invert: Path
    reencode: Path
    interpolate: Path
    gif: Path
    eval_json: Path
    result: EvalResult


def run_demo(
    out: str | Path = "demo",
    *,
    layer: str = "conv5",
    steps: int = 100,
    batch_size: int = 8,
    device: str = "cpu",
    eval_images: int = 32,
    on_log: Callable[[dict[str, object]], None] | None = None,
) -> DemoResult:
    """Train on synthetic images against ``random:0``, then use the generator every way the CLI does."""
    out = Path(out)
    config = TrainConfig(
        layer=layer, data="synthetic", out=str(out / "run"), steps=steps, batch_size=batch_size, alexnet=DEMO_ALEXNET,
        device=device, log_every=max(1, steps // 20), sample_every=max(1, steps // 4), checkpoint_every=steps,
    )
    Trainer(config).run(on_log=on_log)
    held_out = DeadLeaves("val")
    files = [save_image(held_out.load(i), out / "images" / f"{held_out.name(i)}.png") for i in range(4)]
    inputs = torch.stack([eval_crop(load_image(path)) for path in files])
    inverter = Inverter.load(layer, out / "run", alexnet=DEMO_ALEXNET, device=device)
    recon = inverter.invert(inputs).cpu()
    invert_png = save_image(grid(torch.cat([inputs, recon]), columns=len(inputs)), out / "invert.png")
    reencode_png = save_image(strip(inverter.reencode(inputs[0], 6).cpu()), out / "reencode.png")
    frames = inverter.interpolate(inputs[0], inputs[1], 8).cpu()
    interpolate_png = save_image(strip(torch.cat([inputs[:1], frames, inputs[1:2]])), out / "interpolate.png")
    gif = save_gif(list(frames), out / "interpolate.gif")
    result = evaluate(inverter, held_out, limit=eval_images, data_name="synthetic (val)")
    eval_json = out / "eval.json"
    eval_json.write_text(json.dumps(result.summary(), indent=2) + "\n")
    return DemoResult(out / "run", invert_png, reencode_png, interpolate_png, gif, eval_json, result)
