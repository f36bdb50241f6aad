"""The three kinds of model invertnet trains with the DeePSiM loss, and what differs between them.

- ``inverter`` (the paper's main application): a frozen encoder's features of one layer ->
  :class:`Generator` -> image. D is conditioned on the features.
- ``vae`` (NIPS section 4.2): :class:`VAE`, encoder up to fc6 trained too, KL term (eq. 8).
- ``autoencoder`` (arXiv v1): :class:`Autoencoder`, trained on 64x64 crops of 96x96 images.

All three map images to a code and the code back to an image (``encode`` / ``decode``), so
inversion, re-encoding, interpolation and evaluation treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..encoders.alexnet import CAFFENET_ONLY_LAYERS, check_layer
from ..errors import InvertnetError
from ..names import AUTOENCODER, INVERTER, MODEL_KINDS, VAE_KIND
from .autoencoder import CODE_LAYER, Autoencoder
from .discriminator import Discriminator
from .early_generator import EarlyLayerGenerator
from .generator import FC_WIDTH, Generator
from .vae import LATENT_LAYER, VAE


@dataclass(frozen=True)
class Geometry:
    """The training crops of a model kind: short side resized to ``resize``, a random ``size`` square."""

    resize: int
    size: int


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`MODEL_KINDS`, else raise a helpful error."""
    if kind not in MODEL_KINDS:
        raise InvertnetError(f"unknown model {kind!r}: choose one of {', '.join(MODEL_KINDS)}")
    return kind


CODE_LAYERS = {VAE_KIND: LATENT_LAYER, AUTOENCODER: CODE_LAYER}
"""The layer a VAE or autoencoder checkpoint names (an inverter's is the layer it inverts)."""


def training_geometry(kind: str, encoder: object) -> Geometry:
    """Inverter and VAE: the encoder's crop of 256-pixel images (224 or 227); autoencoder: 64 of 96 (STL-10's size)."""
    if kind == AUTOENCODER:
        return Geometry(96, 64)
    return Geometry(256, encoder.input_size)  # type: ignore[attr-defined]


def evaluation_layer(kind: str, layer: str) -> str:
    """The encoder layer whose features measure a model's feature-space error in ``eval``.

    An inverter is measured at the layer it inverts, the VAE at fc6 (its code's size and place),
    the autoencoder at conv5 (the comparator's layer).
    """
    return {VAE_KIND: LATENT_LAYER, AUTOENCODER: "conv5"}.get(kind, layer)


def inverter_generator(
    layer: str, mean: tuple[float, ...], size: int, tail_bias: bool = False, width: int = FC_WIDTH
) -> Generator | EarlyLayerGenerator:
    """The generator that inverts ``layer``: Table 1's (conv5 to prob), or the authors' early-layer one (norm1 to conv4, not trained).

    ``mean``: the RGB mean its output gets; ``size``: the crop the encoder takes; ``width``: see :func:`check_width`.
    """
    if check_layer(layer) in CAFFENET_ONLY_LAYERS:
        return EarlyLayerGenerator(layer, mean, size)
    return Generator(layer, mean=mean, size=size, tail_bias=tail_bias, width=width)


MAX_WIDTH = 4 * FC_WIDTH


def check_width(kind: str, layer: str, width: object) -> int:
    """``width``, the fully connected generators' width and the VAE's code size, if it is one this model has.

    Table 1 and section 4.2 use 4096; a smaller width makes quick runs (the test suite's) with the same
    architecture otherwise. The conv5 generator and the autoencoder have no such layers: only 4096 is theirs.
    """
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= MAX_WIDTH:
        raise InvertnetError(f"the fully connected width must be an integer from 1 to {MAX_WIDTH}, got {width!r}")
    if width != FC_WIDTH and (kind == AUTOENCODER or (kind == INVERTER and layer in ("conv5", *CAFFENET_ONLY_LAYERS))):
        raise InvertnetError(f"the {layer if kind == INVERTER else kind} generator has no fully connected layers: its width is {FC_WIDTH}")
    return width


def build_model(kind: str, layer: str, encoder: nn.Module, tail_bias: bool = False, width: int = FC_WIDTH) -> nn.Module:
    """A freshly initialised network of ``kind`` for ``encoder`` (its mean, crop size and, for the VAE, its weights)."""
    check_width(kind, layer, width)
    if kind == VAE_KIND:
        return VAE(encoder, tail_bias, latent=width)
    if kind == AUTOENCODER:
        return Autoencoder(encoder.generator_mean)  # type: ignore[arg-type]
    return inverter_generator(layer, encoder.generator_mean, encoder.input_size, tail_bias, width)  # type: ignore[arg-type]


def build_discriminator(kind: str, layer: str) -> Discriminator:
    """The inverter's D is conditioned on the features; the VAE's and the autoencoder's see images alone."""
    if kind == INVERTER:
        return Discriminator(layer)
    return Discriminator(None, first_stride=2 if kind == AUTOENCODER else 4)
