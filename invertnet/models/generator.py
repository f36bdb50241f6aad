"""Generators that map AlexNet features back to images (Table 1 of the paper).

fc6/fc7/fc8: three fully connected layers of 4096 (defc7, defc6, defc5), a reshape to
256x4x4, then up-convolutions (stride-2 transposed convolutions, kernel 4: "bed of nails"
up-sampling followed by a convolution) and 3x3 convolutions up to 3x256x256. conv5 (pool5,
256x6x6): the fully connected part is replaced by three 3x3 convolutions to 512 channels
(6 -> 6 -> 6 -> 4). Leaky ReLU with slope 0.3 everywhere, linear output. As in the
authors' release, no layer of the tail has a bias: the up-convolutions and the 3x3
convolutions conv5_1, conv4_1, conv3_1 all have their bias fixed at zero there (``lr_mult: 0``
with a constant-0 filler, in the generator prototxt of KamitaniLab/End2EndDeepImageReconstruction,
``net_templates/generator.prototxt``, and in the released generators). Files written before
invertnet 0.2 trained biases on those three convolutions; :func:`has_tail_biases` recognises
them, and such a generator is rebuilt with the biases (``tail_bias=True``), so it computes
what it was trained to.

Weights start from He initialisation for the leaky ReLU (Caffe's "msra" filler), which keeps
activations at the same scale through the 12 layers.

Output convention: the network predicts a mean-subtracted RGB image in 0-255 units (Caffe's
scale, which the paper's loss weights assume); :meth:`Generator.forward` adds its encoder's
mean back and returns the center crop of the 256x256 output that the encoder takes (224x224
for torchvision's AlexNet, 227x227 for CaffeNet, offset ``(256 - size) // 2``: 16 and 14,
the latter Caffe's test-phase center crop), in 0-255 units. That crop is what the encoder,
the losses and the user see; :meth:`invertnet.Inverter.generate` turns it into a [0, 1] image.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..encoders.alexnet import FEATURE_SHAPES, IMAGENET_MEAN_255, INPUT_SIZE, check_trainable_layer, feature_size

SLOPE = 0.3
OUTPUT_SIZE = 256


FC_WIDTH = 4096
"""The width of the fully connected generators' layers (Table 1) and of the VAE's code (section 4.2)."""

def _upconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=False)


def _conv(cin: int, cout: int, padding: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=padding, bias=bias)


TAIL_CONVOLUTIONS = (2, 6, 10)
"""Where conv5_1, conv4_1 and conv3_1 sit in :attr:`Generator.tail`."""


def has_tail_biases(keys: Iterable[str]) -> bool:
    """Whether a state dict's keys (a generator's, or a VAE's with its decoder's) hold biases of the tail's 3x3 convolutions: a file from before 0.2."""
    return any(key.endswith(f"tail.{index}.bias") for key in keys for index in TAIL_CONVOLUTIONS)


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(SLOPE)


def _he_init(module: nn.Module) -> None:
    """He ("msra") initialisation for leaky ReLU 0.3, zero biases.

    PyTorch's default init shrinks activations layer after layer in this deep, normalisation-free
    network, so early training barely moves the output; He init keeps their scale. For a
    stride-2 4x4 up-convolution each output sees in_channels * 4 inputs.
    """
    if isinstance(module, nn.ConvTranspose2d):
        fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1] // (module.stride[0] * module.stride[1])
    elif isinstance(module, (nn.Conv2d, nn.Linear)):
        fan_in = module.weight[0].numel()
    else:
        return
    nn.init.normal_(module.weight, 0.0, (2.0 / ((1 + SLOPE**2) * fan_in)) ** 0.5)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class CroppedGenerator(nn.Module):
    """What every generator of a layer shares: :meth:`full` makes an ``output_size`` square, the encoder sees its center ``size`` crop."""

    layer: str
    size: int
    output_size: int

    def check_features(self, features: torch.Tensor) -> None:
        """Refuse features that are not of this generator's layer (or, for a VAE's decoder, of its code)."""
        expected = getattr(self, "feature_shape", FEATURE_SHAPES[self.layer])
        if tuple(features.shape[1:]) != expected:
            shape = ", ".join(map(str, expected))
            raise ValueError(f"{self.layer} generator expects features of shape (N, {shape}), got {tuple(features.shape)}")

    def full(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The center crop of :meth:`full` the encoder takes, the image the encoder and the losses see."""
        margin = (self.output_size - self.size) // 2
        return self.full(features)[..., margin : margin + self.size, margin : margin + self.size]

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """The same as calling the generator: the name the VAE and the autoencoder share with it."""
        return self(features)


class Generator(CroppedGenerator):
    """Inverts one encoder layer: features (N, *FEATURE_SHAPES[layer]) -> images (N, 3, size, size), 0-255."""

    output_size = OUTPUT_SIZE

    def __init__(
        self, layer: str, mean: tuple[float, ...] = IMAGENET_MEAN_255, size: int = INPUT_SIZE, tail_bias: bool = False,
        width: int = FC_WIDTH, in_features: int | None = None,
    ) -> None:
        """``mean``: the RGB mean (0-255) added to the network's output; ``size``: the crop the encoder takes;
        ``tail_bias``: give conv5_1, conv4_1, conv3_1 biases, as generators of invertnet before 0.2 had (see :func:`has_tail_biases`);
        ``width``: defc7's and defc6's outputs (Table 1: 4096; smaller only for quick runs such as the tests');
        ``in_features``: what defc7 takes, if not the layer's features (a VAE's code)."""
        super().__init__()
        if not 1 <= size <= OUTPUT_SIZE:
            raise ValueError(f"the crop size must be between 1 and {OUTPUT_SIZE}, got {size}")
        self.layer, self.size = check_trainable_layer(layer), size
        if layer == "conv5" and (width != FC_WIDTH or in_features is not None):
            raise ValueError("the conv5 generator has no fully connected layers to change the width or inputs of")
        self.feature_shape = FEATURE_SHAPES[layer] if in_features is None else (in_features,)
        if layer == "conv5":
            self.head = nn.Sequential(
                _conv(256, 512), _act(),
                _conv(512, 512), _act(),
                _conv(512, 512, padding=0), _act(),
            )
            tail_channels = 512
        else:
            self.head = nn.Sequential(
                nn.Linear(in_features or feature_size(layer), width), _act(),  # defc7
                nn.Linear(width, width), _act(),  # defc6
                nn.Linear(width, FC_WIDTH), _act(),  # defc5: 256 x 4 x 4 for the tail
                nn.Unflatten(1, (256, 4, 4)),
            )
            tail_channels = 256
        self.tail = nn.Sequential(
            _upconv(tail_channels, 256), _act(),  # deconv5: 4 -> 8
            _conv(256, 512, bias=tail_bias), _act(),  # conv5_1
            _upconv(512, 256), _act(),  # deconv4: 8 -> 16
            _conv(256, 256, bias=tail_bias), _act(),  # conv4_1
            _upconv(256, 128), _act(),  # deconv3: 16 -> 32
            _conv(128, 128, bias=tail_bias), _act(),  # conv3_1
            _upconv(128, 64), _act(),  # deconv2: 32 -> 64
            _upconv(64, 32), _act(),  # deconv1: 64 -> 128
            _upconv(32, 3),  # deconv0: 128 -> 256, linear
        )
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.apply(_he_init)

    def full(self, features: torch.Tensor) -> torch.Tensor:
        """The whole 256x256 output, RGB in 0-255 units (not clamped)."""
        self.check_features(features)
        return self.tail(self.head(features)) + self.mean


def build_generator(layer: str, encoder: object | None = None) -> Generator:
    """A freshly initialised generator for ``layer`` of ``encoder`` (its mean and input size; torchvision's AlexNet by default)."""
    if encoder is None:
        return Generator(layer)
    return Generator(layer, mean=encoder.generator_mean, size=encoder.input_size)  # type: ignore[attr-defined]
