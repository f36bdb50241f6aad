"""The DeePSiM loss (eq. 1-5): feature term through a comparator, adversarial terms, image term.

Scale follows Caffe, so the paper's coefficients are the defaults that work: Euclidean terms
are 1/2 * sum of squared differences per sample, averaged over the batch, on images in 0-255
units; softmax losses are averaged over the batch.

    L      = l_feat * L_feat + l_adv * L_adv + l_img * L_img          (1)
    L_feat = 1/2 |C(G(y)) - C(x)|^2                                     (2)
    L_discr = -log D(x, y) - log(1 - D(G(y), y))                        (3)
    L_adv  = -log D(G(y), y)                                           (4)
    L_img  = 1/2 |G(y) - x|^2                                          (5)
    L_KL   = 1/2 sum_i(|mu_i|^2 + |sigma_i|^2 - <log sigma_i^2, 1>)     (8, the VAE only)

The image term can also be L1 (sum |G(y) - x|) or 1 - MS-SSIM (Snell et al. 2017). Their
default weights make them about as heavy as the paper's L2 term, measured on dead-leaves
crops: with Gaussian noise of RMS 50 (0-255 units) the weighted L2 term is 376, L1's sum is
6.0e6 (so 6e-5) and 1 - MS-SSIM is 0.24 (so 1550); with a 9x9 box blur (RMS 23) the L2
term is 80 and 1 - MS-SSIM is 0.11 (so 710). MS-SSIM uses 1000, between the two.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders import Encoder, random_like
from ..errors import InvertnetError, named
from ..evaluation.quality import ms_ssim
from ..models.discriminator import FAKE, REAL
from ..names import IMAGE_LOSSES, LOSS_PRESETS

PRESETS = LOSS_PRESETS
RANDOM_PREFIX = "random-"
RANDOM_COMPARATOR_SEED = 1
"""The seed of the network with random weights behind a ``random-LAYER`` comparator (Fig. 6's ``random-conv5``):
``random:1`` for torchvision's AlexNet, ``caffenet:random:1`` for CaffeNet, ``NAME:random:1`` for a torchvision classifier."""

DEFAULT_WEIGHTS = {"feat": 0.01, "adv": 100.0, "img": 2e-6}


@dataclass(frozen=True)
class LossConfig:
    """Which terms are on, with what weights, and which comparator measures the feature term."""

    preset: str = "full"
    comparator: str = "conv5"
    lambda_feat: float = DEFAULT_WEIGHTS["feat"]
    lambda_adv: float = DEFAULT_WEIGHTS["adv"]
    lambda_img: float = DEFAULT_WEIGHTS["img"]
    image_loss: str = "l2"
    lambda_kl: float = 0.0

    @classmethod
    def from_preset(
        cls,
        preset: str = "full",
        comparator: str | None = None,
        lambda_feat: float | None = None,
        lambda_adv: float | None = None,
        lambda_img: float | None = None,
        image_loss: str = "l2",
        lambda_kl: float = 0.0,
        layers: tuple[str, ...] = ("conv5", "fc6"),
        default_comparator: str = "conv5",
    ) -> LossConfig:
        """The preset's terms with the paper's weights; ``None`` keeps a default, terms off get 0.

        ``lambda_kl`` weighs the VAE's KL term (eq. 8); it is 0 for the other models. ``layers``: the
        encoder's, which ``comparator`` may name (or ``random-LAYER``: that layer of a random network
        of its family); ``default_comparator``: the encoder's, when the preset has a feature term.
        """
        if preset not in PRESETS:
            raise InvertnetError(f"unknown loss preset {preset!r}: choose one of {', '.join(PRESETS)}")
        feat, adv, img = PRESETS[preset]
        if comparator is None:
            comparator = default_comparator if feat else "none"
        if comparator != "none" and comparator.removeprefix(RANDOM_PREFIX) not in layers:
            raise InvertnetError(
                f"unknown comparator {comparator!r}: choose a layer of the encoder ({', '.join(layers)}), "
                f"{RANDOM_PREFIX}LAYER (that layer of a network of its family with random weights) or none"
            )
        if image_loss not in IMAGE_LOSSES:
            raise InvertnetError(f"unknown image loss {image_loss!r}: choose one of {', '.join(IMAGE_LOSSES)}")
        if feat and comparator == "none":
            raise InvertnetError(f"loss preset {preset!r} has a feature term and needs a comparator, not 'none'")
        if not feat and comparator != "none":
            raise InvertnetError(f"loss preset {preset!r} has no feature term: {named('comparator')} does not apply")
        for name, value, on, term in (
            ("lambda_feat", lambda_feat, feat, "feature"), ("lambda_adv", lambda_adv, adv, "adversarial"), ("lambda_img", lambda_img, img, "image")
        ):
            if value is not None and not 0 <= value < math.inf:
                raise InvertnetError(f"{named(name)} must be a finite number >= 0, got {value}")
            if value is not None and not on:
                raise InvertnetError(f"{named(name)} does not apply to loss preset {preset!r}, which has no {term} term")
        if not 0 <= lambda_kl < math.inf:
            raise InvertnetError(f"{named('lambda_kl')} must be a finite number >= 0, got {lambda_kl}")
        if image_loss != "l2" and not img:
            raise InvertnetError(f"{named('image_loss')} does not apply to loss preset {preset!r}, which has no image term")
        defaults = {**DEFAULT_WEIGHTS, "img": IMAGE_LOSSES[image_loss]}
        pick = lambda on, value, key: (defaults[key] if value is None else value) if on else 0.0  # noqa: E731
        return cls(preset, comparator, pick(feat, lambda_feat, "feat"), pick(adv, lambda_adv, "adv"), pick(img, lambda_img, "img"), image_loss, lambda_kl)

    @property
    def weights(self) -> dict[str, float]:
        """Each term's weight in the generator's loss (0: off), by the name the metrics give it."""
        return {"feat": self.lambda_feat, "adv": self.lambda_adv, "img": self.lambda_img, "kl": self.lambda_kl}

    @property
    def terms(self) -> tuple[str, ...]:
        """The terms that are on, in the order :func:`generator_loss` reports them."""
        return tuple(name for name, weight in self.weights.items() if weight > 0)

    @property
    def adversarial(self) -> bool:
        """Whether a discriminator is trained."""
        return self.lambda_adv > 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1/2 * squared Euclidean distance per sample, averaged over the batch (Caffe's EuclideanLoss)."""
    return 0.5 * (a.float() - b.float()).pow(2).flatten(1).sum(1).mean()


def image_term(kind: str, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The image-space term between images in 0-255 units, averaged over the batch."""
    if kind == "l2":
        return euclidean(fake, real)
    if kind == "l1":
        return (fake.float() - real.float()).abs().flatten(1).sum(1).mean()
    if kind == "ms-ssim":
        return 1.0 - ms_ssim(fake.float() / 255.0, real.float() / 255.0).mean()
    raise InvertnetError(f"unknown image loss {kind!r}: choose one of {', '.join(IMAGE_LOSSES)}")


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Eq. 8 per sample, averaged over the batch: 1/2 sum(mu^2 + sigma^2 - log sigma^2), from log sigma^2.

    As the paper writes it: without the textbook KL's constant -1 per dimension, which shifts
    the value (by half the latent size) and not the gradient.
    """
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar).flatten(1).sum(1).mean()


def discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Eq. 3: -log D(x) - log(1 - D(G(y))), each averaged over the batch."""
    real = torch.full((logits_real.shape[0],), REAL, dtype=torch.long, device=logits_real.device)
    fake = torch.full((logits_fake.shape[0],), FAKE, dtype=torch.long, device=logits_fake.device)
    return F.cross_entropy(logits_real.float(), real) + F.cross_entropy(logits_fake.float(), fake)


def adversarial_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Eq. 4: -log D(G(y)), averaged over the batch."""
    real = torch.full((logits_fake.shape[0],), REAL, dtype=torch.long, device=logits_fake.device)
    return F.cross_entropy(logits_fake.float(), real)


class Comparator(nn.Module):
    """C in eq. 2: features of an image (0-255 units) from an encoder layer."""

    def __init__(self, network: Encoder, layer: str) -> None:
        super().__init__()
        self.network, self.layer = network, layer

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features of ``images``; other sizes than the network's (the autoencoder's 64x64 crops) are resized to it, bilinearly."""
        size = self.network.input_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return self.network(images / 255.0, self.layer)


def build_comparator(name: str, backbone: Encoder) -> Comparator | None:
    """The comparator ``name``: a layer of the encoder being inverted, ``random-LAYER`` (that layer of a random network of its family), or none."""
    if name == "none":
        return None
    if name.startswith(RANDOM_PREFIX):
        layer = name.removeprefix(RANDOM_PREFIX)
        backbone.check_layer(layer)
        return Comparator(random_like(backbone, RANDOM_COMPARATOR_SEED), layer)
    return Comparator(backbone, backbone.check_layer(name))


@dataclass
class GeneratorLoss:
    """The generator's loss and its weighted parts (unweighted terms for logging)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


def generator_loss(
    config: LossConfig,
    fake: torch.Tensor,
    real: torch.Tensor,
    comparator: Comparator | None,
    logits_fake: torch.Tensor | None,
    kl: torch.Tensor | None = None,
) -> GeneratorLoss:
    """Eq. 1 for a batch: ``fake`` = G(y), ``real`` = x, both (N, 3, S, S) in 0-255 units; plus lambda_KL * ``kl`` for the VAE."""
    terms: dict[str, torch.Tensor] = {}
    total = fake.new_zeros((), dtype=torch.float32)
    if config.lambda_feat > 0:
        if comparator is None:
            raise InvertnetError("the feature term needs a comparator")
        with torch.no_grad():
            target = comparator(real)
        terms["feat"] = euclidean(comparator(fake), target)
        total = total + config.lambda_feat * terms["feat"]
    if config.lambda_adv > 0:
        if logits_fake is None:
            raise InvertnetError("the adversarial term needs the discriminator's logits")
        terms["adv"] = adversarial_loss(logits_fake)
        total = total + config.lambda_adv * terms["adv"]
    if config.lambda_img > 0:
        terms["img"] = image_term(config.image_loss, fake, real)
        total = total + config.lambda_img * terms["img"]
    if config.lambda_kl > 0:
        if kl is None:
            raise InvertnetError("the KL term needs the VAE's KL divergence")
        terms["kl"] = kl
        total = total + config.lambda_kl * kl
    return GeneratorLoss(total, terms)
