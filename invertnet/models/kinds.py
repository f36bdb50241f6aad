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

from ..encoders import Encoder
from ..encoders.alexnet import CAFFENET_ONLY_LAYERS, check_layer
from ..errors import InvertnetError
from ..names import AUTOENCODER, FC_WIDTH, INVERTER, MODEL_KINDS, VAE_KIND
from .autoencoder import CODE_LAYER, Autoencoder
from .discriminator import Discriminator
from .early_generator import EarlyLayerGenerator
from .generator import Generator, plan
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
    layer: str, mean: tuple[float, ...], size: int, tail_bias: bool = False, width: int = FC_WIDTH, feature_shape: tuple[int, ...] | None = None,
) -> Generator | EarlyLayerGenerator:
    """The generator that inverts ``layer``: Table 1's (and its kin for any ``feature_shape``), or the authors' early-layer one
    (CaffeNet's norm1 to conv4, not trained).

    ``mean``: the RGB mean its output gets; ``size``: the crop the encoder takes; ``width``: see :func:`check_width`;
    ``feature_shape``: the layer's (AlexNet's for its layer names if not given).
    """
    if feature_shape is None and check_layer(layer) in CAFFENET_ONLY_LAYERS:
        return EarlyLayerGenerator(layer, mean, size)
    return Generator(layer, mean=mean, size=size, tail_bias=tail_bias, width=width, feature_shape=feature_shape)


MAX_WIDTH = 4 * FC_WIDTH


def check_width(
    kind: str, layer: str, width: object, feature_shape: tuple[int, ...] | None = None, size: int = 224, setting: str = "the fully connected width",
) -> int:
    """``width``, the fully connected generators' width and the VAE's code size, if it is one this model has.

    Table 1 and section 4.2 use 4096; a smaller width makes quick runs (the test suite's) with the same
    architecture otherwise. Generators with a convolutional head (conv5's, and any other for a map:
    ``feature_shape``, AlexNet's for its layer names if not given) and the autoencoder have no such
    layers: only 4096 is theirs. ``setting``: how an error names the width (a file's field, a flag).
    """
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= MAX_WIDTH:
        raise InvertnetError(f"{setting} must be an integer from 1 to {MAX_WIDTH}, got {width!r}")
    if width == FC_WIDTH or kind == VAE_KIND:
        return width
    convolutional = kind == AUTOENCODER or (feature_shape is None and layer in ("conv5", *CAFFENET_ONLY_LAYERS))
    if kind == INVERTER and feature_shape is not None:
        convolutional = plan(feature_shape, size).head == "conv"
    if convolutional:
        raise InvertnetError(f"the {layer if kind == INVERTER else kind} generator has no fully connected layers: {setting} can only be {FC_WIDTH}")
    return width


def build_model(kind: str, layer: str, encoder: Encoder, tail_bias: bool = False, width: int = FC_WIDTH) -> nn.Module:
    """A freshly initialised network of ``kind`` for ``encoder`` (its mean, crop size, the layer's feature shape and, for the VAE, its weights)."""
    shape = encoder.feature_shape(layer) if kind == INVERTER else None
    check_width(kind, layer, width, shape, encoder.input_size)
    if kind == VAE_KIND:
        return VAE(encoder, tail_bias, latent=width)
    if kind == AUTOENCODER:
        return Autoencoder(encoder.generator_mean)
    if encoder.family == "caffenet" and layer in CAFFENET_ONLY_LAYERS:
        shape = None  # the authors' early-layer generator
    return inverter_generator(layer, encoder.generator_mean, encoder.input_size, tail_bias, width, shape)


def build_discriminator(kind: str, layer: str, feature_shape: tuple[int, ...] | None = None) -> Discriminator:
    """The inverter's D is conditioned on the features (of ``feature_shape``); the VAE's and the autoencoder's see images alone."""
    if kind == INVERTER:
        return Discriminator(layer, feature_shape=feature_shape)
    return Discriminator(None, first_stride=2 if kind == AUTOENCODER else 4)
