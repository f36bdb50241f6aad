"""The Mahendran & Vedaldi (CVPR 2015) baseline: reconstruct by gradient descent on the image.

Defaults are those of the authors' code for CNNs (aravindhm/deep-goggle,
``experiments/experiment_cnn.m`` and ``core/invert_nn.m``). The image x (mean-subtracted,
0-255 units) minimises

    ||phi(x) - phi0||^2 / ||phi0||^2 + (l_beta/2 * sum x^6 + l_tv/2 * TV^2(x)) / sigma_x^2

with the beta-norm (beta 6, l_beta 8e-10) and TV^beta (beta 2) priors; l_tv grows with depth as
in their experiments: 1 for their layers 1-6 (norm1 is 4), 10 for 7-12 (norm2 8, relu3 10, relu4
12), 100 for 13-20 (pool5 15 to fc8 20) (:data:`TV_WEIGHTS`). SGD with momentum 0.9, learning
rate 0.004 for 100 iterations, then 0.0004 for 200, then 0.00004 for 100, the momentum reset
when it changes; the update direction is scaled by sigma_x^2 as theirs is. sigma_x, the
typical norm of a mean-subtracted image, is taken from torchvision's ImageNet statistics
(std 0.226 * 255 per value); x starts as Gaussian noise of that norm. Images are optimised
in batches, each with its own objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..encoders import Encoder
from ..encoders.alexnet import IMAGENET_STD
from ..errors import InvertnetError

MAX_ITERATIONS = 100_000
"""The longest optimisation accepted: 250 times the published schedule."""

TV_WEIGHTS = {"norm1": 1.0, "norm2": 10.0, "conv3": 10.0, "conv4": 10.0}
"""l_tv below conv5 (deep-goggle ``experiment_cnn.m``: opts1, opts2, opts3 over the layer ranges 1-6, 7-12, 13-20); 100 from conv5 on."""


@dataclass(frozen=True)
class OptimizeConfig:
    """Settings of the M&V optimisation (their CNN defaults)."""

    learning_rate: float = 0.004
    schedule: tuple[tuple[int, float], ...] = ((100, 1.0), (200, 0.1), (100, 0.01))
    momentum: float = 0.9
    beta: float = 6.0
    lambda_beta: float = 8e-10
    tv_beta: float = 2.0
    lambda_tv: float | None = None
    """None: the authors' weight for the layer (:data:`TV_WEIGHTS`, else 100)."""
    seed: int = 0

    @property
    def iterations(self) -> int:
        return sum(count for count, _ in self.schedule)

    def scaled(self, iterations: int) -> OptimizeConfig:
        """The same schedule compressed or stretched to ``iterations`` in total (1 to :data:`MAX_ITERATIONS`)."""
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise InvertnetError(f"the optimisation's iterations must be between 1 and {MAX_ITERATIONS:,} (its schedule has 400), got {iterations}")
        total = self.iterations
        counts = [max(1, round(count * iterations / total)) for count, _ in self.schedule]
        counts[-1] = max(1, iterations - sum(counts[:-1]))
        return OptimizeConfig(**{**self.__dict__, "schedule": tuple(zip(counts, (f for _, f in self.schedule)))})


def total_variation(x: torch.Tensor, beta: float) -> torch.Tensor:
    """TV^beta per image: sum of (dx^2 + dy^2)^(beta/2) with forward differences (zero at the far border)."""
    dx = torch.cat([x[..., :, 1:] - x[..., :, :-1], torch.zeros_like(x[..., :, :1])], dim=-1)
    dy = torch.cat([x[..., 1:, :] - x[..., :-1, :], torch.zeros_like(x[..., :1, :])], dim=-2)
    return (dx.pow(2) + dy.pow(2)).pow(beta / 2).flatten(1).sum(1)


class MahendranVedaldi:
    """Inverts one layer of an encoder by optimisation; no training needed.

    The image is optimised around the encoder's mean (as M&V's code optimises around the
    network's mean image) at its input size; the scale sigma_x is ImageNet's pixel spread.
    """

    def __init__(self, encoder: Encoder, layer: str, config: OptimizeConfig | None = None) -> None:
        self.encoder, self.layer, self.config = encoder, encoder.check_layer(layer), config or OptimizeConfig()
        self.lambda_tv = self.config.lambda_tv if self.config.lambda_tv is not None else TV_WEIGHTS.get(layer, 100.0)
        device = encoder.device
        self.size = encoder.input_size
        self.mean = torch.tensor(encoder.generator_mean, device=device).view(1, 3, 1, 1)
        self.sigma_x = sum(IMAGENET_STD) / 3 * 255 * math.sqrt(3 * self.size * self.size)

    def _objective(self, x: torch.Tensor, target: torch.Tensor, target_norm2: torch.Tensor) -> torch.Tensor:
        c = self.config
        features = self.encoder((x + self.mean) / 255.0, self.layer)
        fit = (features - target).pow(2).flatten(1).sum(1) / target_norm2
        prior = c.lambda_beta / 2 * x.abs().pow(c.beta).flatten(1).sum(1) + self.lambda_tv / 2 * total_variation(x, c.tv_beta)
        return fit + prior / self.sigma_x**2

    def reconstruct(self, features: torch.Tensor, on_iteration: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Images (N, 3, S, S) in [0, 1] (S: the encoder's input size) whose features approach ``features``."""
        c = self.config
        target = features.detach().float()
        target_norm2 = target.pow(2).flatten(1).sum(1).clamp_min(1e-12)
        generator = torch.Generator(device="cpu").manual_seed(c.seed)
        noise = torch.randn((target.shape[0], 3, self.size, self.size), generator=generator).to(target.device)
        x = (noise / noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * self.sigma_x).requires_grad_(True)
        velocity = torch.zeros_like(x)
        done, total = 0, c.iterations
        for count, factor in c.schedule:
            velocity.zero_()  # as in invert_nn.m: a new rate resets the momentum
            rate = c.learning_rate * factor * self.sigma_x**2
            for _ in range(count):
                (gradient,) = torch.autograd.grad(self._objective(x, target, target_norm2).sum(), x)
                with torch.no_grad():
                    velocity.mul_(c.momentum).sub_(rate * gradient)
                    x.add_(velocity)
                done += 1
                if on_iteration is not None:
                    on_iteration(done, total)
        return ((x.detach() + self.mean) / 255.0).clamp(0, 1)

    def invert(self, images: torch.Tensor, on_iteration: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Reconstruct ``images`` (N, 3, S, S, [0, 1]) from their features at this layer."""
        with torch.no_grad():
            features = self.encoder(images.to(self.mean.device), self.layer)
        return self.reconstruct(features, on_iteration)
