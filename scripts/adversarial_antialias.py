"""Is the lattice the discriminator's first stride? Fine-tune with a discriminator that blurs before its stride-4 convolution.

    python3 scripts/adversarial_antialias.py BASE OUT [--loss adv+image] [--steps 300]

The paper's discriminator starts with a 7x7 convolution of stride 4, whose gradient with respect to the image is a
pattern on the period-4 grid (scripts/adversarial_diagnose.py measures it). Here the same run is trained with a fixed
[1, 3, 3, 1] x [1, 3, 3, 1] / 64 blur before that convolution (Zhang 2019, "Making convolutional networks
shift-invariant again"), everything else as ``invertnet train --init BASE``. An experiment, not an option of invertnet:
the generator file it writes is an ordinary one, evaluated with ``invertnet eval``.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import invertnet.training.step as step
from invertnet.training import TrainConfig, Trainer


class Blur(nn.Module):
    """A fixed binomial low-pass filter, per channel, size kept."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = (taps[:, None] * taps[None, :]) / 64
        self.register_buffer("kernel", kernel.expand(channels, 1, 4, 4).clone())
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(nn.functional.pad(x, (1, 2, 1, 2), mode="replicate"), self.kernel, groups=self.channels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("out")
    parser.add_argument("--loss", default="adv+image")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    build = step.build_discriminator

    def blurred(*a: object, **k: object) -> nn.Module:
        discriminator = build(*a, **k)
        discriminator.image_path.insert(0, Blur())
        return discriminator

    step.build_discriminator = blurred
    config = TrainConfig(layer="conv5", data="synthetic", encoder="random:0", loss=args.loss, steps=args.steps, batch_size=8, device="cpu",
                         out=args.out, init=args.base, log_every=10, sample_every=args.steps, checkpoint_every=args.steps)
    Trainer(config).run()
    print(args.out)


if __name__ == "__main__":
    main()
