"""iCNN with a generator prior (Shen, Horikawa, Majima & Kamitani 2019): optimise the generator's input so the image's features match.

The generator's input z (4096 values for the relu7 generator) is optimised so that an encoder's
features of the generator's centre-cropped image match target features (true, or decoded from brain
activity) at many layers. This is ``bdpy.recon.torch.icnn.reconstruct`` with a generator, as the
cookbook's ``reconstruction/recon_icnn_image_vgg19_dgn_relu7gen_gd.py`` calls it; every default is
that script's (``opts``) or bdpy's where the script leaves it:

- loss: sum over layers of w_l * ||f_l(G(z)) - t_l||^2 (``MSELoss(reduction="sum")``), with
  w_l = 1 / ||t_l||^2 normalised to sum 1 (the script's ``layer_weights``);
- SGD (``optim.SGD``) with momentum 0.9 (``momentum=(0.9, 0.9)``) and a learning rate falling linearly
  from 2 to 1e-10 over the iterations (``lr=(2., 1e-10)``: lr_i = 2 + i (1e-10 - 2) / n), 200 of them
  (``n_iter``);
- the gradient divided by its mean absolute value each iteration (bdpy's ``gradient_normalization=True``);
- after each step z decays, z <- (1 - 0.01) z (``decay=(0.01, 0.01)``), and is clamped to [0, upper]
  (``feature_lower_bound=0.``, ``feature_upper_bound`` the act_range file; no upper bound without one);
- z starts from N(0, 1) (``np.random.normal(0, 1, (4096,))``; here from ``seed``);
- the generator's output is centre-cropped to the encoder's input size (``crop_generator_output``:
  offset ``(256 - 224) // 2``), and the result is the image the last iteration computed (bdpy returns
  the image before the final update, ``x_buf``).

The generator and encoder are any callables: ``generate(z)`` -> the generator's whole output in the
encoder's input space, ``features(image)`` -> a dict of the layers' activations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import InvertnetError
from ..names import ICNN_ITERATIONS as ITERATIONS

LEARNING_RATE = (2.0, 1e-10)
MOMENTUM = 0.9
DECAY = 0.01
LOWER_BOUND = 0.0


@dataclass(frozen=True)
class ICNNConfig:
    """The optimisation's settings (the module's defaults, each the cookbook's)."""

    iterations: int = ITERATIONS
    learning_rate: tuple[float, float] = LEARNING_RATE
    momentum: float = MOMENTUM
    decay: float = DECAY
    lower_bound: float = LOWER_BOUND
    gradient_normalization: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise InvertnetError(f"iterations (--iterations) must be a positive integer, got {self.iterations}")


def layer_weights(targets: dict[str, torch.Tensor]) -> dict[str, float]:
    """The cookbook's layer weights: 1 / ||t_l||^2, normalised to sum 1 (float32 norms, as its ``np.linalg.norm`` of float32 arrays)."""
    norms = torch.stack([targets[layer].float().norm() for layer in targets])
    if not bool((norms > 0).all()):
        empty = [layer for layer, norm in zip(targets, norms) if norm == 0]
        raise InvertnetError(f"the target features at {', '.join(empty)} are all zero: no layer weight 1/||t||^2 exists")
    weights = 1.0 / norms.double() ** 2
    weights = weights / weights.sum()
    return {layer: float(weight) for layer, weight in zip(targets, weights.float())}


def centre_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The ``size`` x ``size`` centre of ``images``, at bdpy's offset ``(H - size) // 2``."""
    top, left = (images.shape[-2] - size) // 2, (images.shape[-1] - size) // 2
    return images[..., top : top + size, left : left + size]


def icnn(
    targets: dict[str, torch.Tensor],
    generate: Callable[[torch.Tensor], torch.Tensor],
    features: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    initial: torch.Tensor,
    size: int,
    upper_bound: torch.Tensor | None = None,
    config: ICNNConfig = ICNNConfig(),
    weights: dict[str, float] | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Optimise the code ``initial`` (D,) so ``features(crop(generate(z)))`` matches ``targets`` (each without a batch axis).

    Returns the image of the last iteration (3, size, size, in ``generate``'s units), the code that made
    it, and the loss of each iteration. ``weights``: the layers' weights (default :func:`layer_weights`).
    """
    weights = layer_weights(targets) if weights is None else weights
    device = initial.device
    goal = {layer: value.to(device).float().unsqueeze(0) for layer, value in targets.items()}
    code = initial.detach().float().clone()
    parameter = code.unsqueeze(0).clone().requires_grad_(True)
    optimizer = torch.optim.SGD([parameter], lr=config.learning_rate[0], momentum=config.momentum)
    upper = upper_bound.to(device).float() if upper_bound is not None else None
    losses: list[float] = []
    image = made_by = None
    first, last = config.learning_rate
    for step in range(config.iterations):
        for group in optimizer.param_groups:
            group["lr"] = first + step * (last - first) / config.iterations
        optimizer.zero_grad()
        with torch.no_grad():
            parameter.copy_(code.unsqueeze(0))
        made_by = code.clone()
        picture = centre_crop(generate(parameter), size)
        activations = features(picture)
        loss = sum(
            (weights[layer] * (activations[layer] - goal[layer]).pow(2).sum() for layer in reversed(list(targets))),
            torch.zeros((), device=device),
        )
        loss.backward()
        if config.gradient_normalization:
            scale = parameter.grad.abs().mean()
            if scale > 0:
                parameter.grad /= scale
        image = picture.detach()[0].clone()
        optimizer.step()
        with torch.no_grad():
            code = parameter.detach()[0].clone() * (1 - config.decay)
            code = code.clamp(min=config.lower_bound)
            if upper is not None:
                code = torch.minimum(code, upper)
        losses.append(float(loss.detach()))
        if on_iteration is not None:
            on_iteration(step + 1, losses[-1])
    assert image is not None and made_by is not None
    return image, made_by, losses
