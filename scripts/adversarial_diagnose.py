"""What the adversarial term does to a generator, measured at the generator's output (docs/results.md, "The adversarial term").

    python3 scripts/adversarial_diagnose.py RUN [RUN ...]     # runs trained with a discriminator (their checkpoint.safetensors)

For each run, on 64 held-out synthetic images: the discriminator's accuracy on real images and on the
generator's reconstructions; each weighted loss term's gradient with respect to the generator's output
image (eq. 1's terms as the training step computes them), its norm, its share of the gradient's power at
the Nyquist corner and at periods of 4 pixels (the discriminator's first stride) against the image term's,
and the cosine between the terms' gradients. A term whose gradient is concentrated where the inputs have
no power draws a lattice there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from invertnet.data.datasets import DeadLeaves, eval_batches
from invertnet.evaluation.spectrum import frequencies, power_spectra
from invertnet.inversion import Inverter
from invertnet.models.kinds import build_discriminator
from invertnet.training.losses import LossConfig, adversarial_loss, build_comparator, euclidean, image_term
from invertnet.weights.checkpoint import load_checkpoint

IMAGES = 64


def _spectral_shares(gradient: torch.Tensor) -> dict[str, float]:
    """Where a gradient's power lies: at the highest frequencies (within 0.05 of the Nyquist corner) and on the period-4 grid."""
    size = gradient.shape[-1]
    spectra = power_spectra((gradient - gradient.amin()) / (gradient.amax() - gradient.amin()).clamp_min(1e-30)).sum(0)
    radius, fy, fx = frequencies(size, size)
    total = float(spectra.sum())
    corner = ((fy.abs() - 0.5).abs() < 0.05) & ((fx - 0.5).abs() < 0.05)
    grid = ((fy * 4 - (fy * 4).round()).abs() < 0.02) & ((fx * 4 - (fx * 4).round()).abs() < 0.02) & (radius >= 0.2)
    return {"nyquist_share": float(spectra[corner].sum()) / total, "period4_share": float(spectra[grid].sum()) / total}


def diagnose(run: Path) -> dict[str, object]:
    checkpoint = load_checkpoint(run / "checkpoint.safetensors")
    config = json.loads((run / "config.json").read_text())
    loss = LossConfig(**config["loss_config"])
    inverter = Inverter.load(None, run, device="cpu")
    generator, encoder = inverter.generator.requires_grad_(False), inverter.encoder
    discriminator = build_discriminator("inverter", checkpoint.layer, encoder.feature_shape(checkpoint.layer)).eval()
    discriminator.load_state_dict(checkpoint.module_state("discriminator"))
    discriminator.requires_grad_(False)
    comparator = build_comparator(loss.comparator, encoder) if loss.lambda_feat > 0 else build_comparator("conv5", encoder)
    images = torch.cat([batch for _, batch in eval_batches(DeadLeaves("val"), IMAGES, 32)])
    features = encoder(images, checkpoint.layer)
    fake = generator(features).detach().requires_grad_(True)
    real = images * 255.0
    with torch.no_grad():
        real_logits, fake_logits = discriminator(real, features), discriminator(fake, features)
    terms = {
        "img": lambda x: (loss.lambda_img or 2e-6) * image_term(loss.image_loss, x, real),
        "adv": lambda x: (loss.lambda_adv or 100.0) * adversarial_loss(discriminator(x, features)),
        "feat": lambda x: (loss.lambda_feat or 0.01) * euclidean(comparator(x), comparator(real).detach()),
    }
    gradients = {}
    for name, term in terms.items():
        (gradient,) = torch.autograd.grad(term(fake), fake)
        gradients[name] = gradient
    flat = {name: g.flatten() for name, g in gradients.items()}
    return {
        "run": run.name, "preset": loss.preset, "step": checkpoint.step,
        "d_accuracy_real": float((real_logits.argmax(1) == 1).float().mean()), "d_accuracy_fake": float((fake_logits.argmax(1) == 0).float().mean()),
        "gradients": {name: {"norm": float(g.norm()), **_spectral_shares(g)} for name, g in gradients.items()},
        "cosines": {f"{a}/{b}": float(torch.nn.functional.cosine_similarity(flat[a], flat[b], dim=0))
                    for a, b in (("adv", "img"), ("feat", "img"), ("adv", "feat"))},
        "inputs": _spectral_shares(images * 255.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    for run in parser.parse_args().runs:
        print(json.dumps(diagnose(run), indent=1))


if __name__ == "__main__":
    main()
