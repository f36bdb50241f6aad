"""Generators that map an encoder's features back to images: Table 1 of the paper, and the same for any feature shape.

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

**Any other layer** (:func:`plan`), derived from these two rather than designed anew: a vector (an fc
layer, ResNet's avgpool, ViT's class token; also a map smaller than 4x4, flattened) enters through
the fc generator's head; a C x H x H map through the conv5 generator's head, three 3x3 convolutions
from C channels, the last without padding (H -> H - 2, as conv5's) or with it (H -> H), whichever
lets the fewest whole stages of the tail reach the encoder's input size with the smallest output.
The tail is the paper's from its last ``n`` stages (deconv5 + conv5_1, deconv4 + conv4_1, deconv3
+ conv3_1, deconv2, deconv1, deconv0: each doubles the size), so the head ends with the channels
the first kept stage takes. A 7x7 map (ResNet's layer4, VGG's pool5) takes 5 stages to 224, a
14x14 one (ViT's tokens, ResNet's layer3) 4; AlexNet's pool5 6 stages from 4x4, Table 1 exactly. A
map already at the input size keeps none, and a 3x3 convolution makes the image.

Weights start from He initialisation for the leaky ReLU (Caffe's "msra" filler), which keeps
activations at the same scale through the 12 layers.

Output convention: the network predicts a mean-subtracted RGB image in 0-255 units (Caffe's
scale, which the paper's loss weights assume); :meth:`Generator.forward` adds its encoder's
mean back and returns the center crop of the ``output_size`` output that the encoder takes (224x224
of 256 for torchvision's AlexNet, 227x227 for CaffeNet, offset ``(256 - size) // 2``: 16 and 14,
the latter Caffe's test-phase center crop), in 0-255 units. That crop is what the encoder,
the losses and the user see; :meth:`invertnet.Inverter.generate` turns it into a [0, 1] image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..encoders.alexnet import FEATURE_SHAPES, IMAGENET_MEAN_255, INPUT_SIZE
from ..errors import InvertnetError
from ..names import CAFFENET_ONLY_LAYERS, FC_WIDTH, TRAINABLE_LAYERS

SLOPE = 0.3
OUTPUT_SIZE = 256


def _upconv(cin: int, cout: int, bias: bool = False) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=bias)


def _conv(cin: int, cout: int, padding: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=padding, bias=bias)


TAIL_CONVOLUTIONS = (2, 6, 10)
"""Where conv5_1, conv4_1 and conv3_1 sit in :attr:`Generator.tail` (Table 1's, all six stages)."""

STAGES: tuple[tuple[tuple[str, int], ...], ...] = (
    (("up", 256), ("conv", 512)),  # deconv5, conv5_1
    (("up", 256), ("conv", 256)),  # deconv4, conv4_1
    (("up", 128), ("conv", 128)),  # deconv3, conv3_1
    (("up", 64),),  # deconv2
    (("up", 32),),  # deconv1
    (("up", 3),),  # deconv0, linear
)
"""Table 1's tail, stage by stage: each up-convolution doubles the size; (kind, output channels)."""
STAGE_INPUTS = (512, 512, 256, 128, 64, 32)
"""The channels each stage takes (the conv5 head's 512 for the first)."""
FC_SIDE = 4
"""The fc head's output: 256 x 4 x 4."""


@dataclass(frozen=True)
class Plan:
    """The generator's shape for one feature shape and crop: its head, how many tail stages, its output size."""

    head: str  # "fc" or "conv"
    in_features: int  # what the fc head takes, or the conv head's input channels
    stages: int  # how many of Table 1's stages, counted from the end
    padding: int  # the conv head's last padding (0: H -> H - 2, as conv5's)
    output_size: int

    @property
    def head_channels(self) -> int:
        """What the head hands the tail: 256 (fc: 256 x 4 x 4) or the first kept stage's input channels."""
        if self.head == "fc":
            return 256
        return STAGE_INPUTS[len(STAGES) - self.stages] if self.stages else STAGE_INPUTS[-1]


def plan(feature_shape: tuple[int, ...], size: int) -> Plan:
    """The generator for features of ``feature_shape`` and an encoder that takes ``size`` x ``size`` images (see the module docstring)."""
    if len(feature_shape) == 3 and feature_shape[1] != feature_shape[2]:
        raise InvertnetError(f"features of shape {feature_shape}: a generator needs square maps (C, H, H) or vectors")
    if len(feature_shape) not in (1, 3) or min(feature_shape) < 1:
        raise InvertnetError(f"features of shape {feature_shape}: a generator takes vectors (D,) or square maps (C, H, H)")
    if len(feature_shape) == 1 or feature_shape[1] < FC_SIDE:
        stages = max(0, math.ceil(math.log2(size / FC_SIDE)))
        if stages != len(STAGES):
            raise InvertnetError(f"a fully connected generator makes 256 x 256 images; the encoder takes {size} x {size}")
        return Plan("fc", math.prod(feature_shape), stages, 1, FC_SIDE * 2**stages)
    side = feature_shape[1]
    options = []
    for padding in (0, 1):
        start = side - 2 + 2 * padding
        stages = max(0, math.ceil(math.log2(size / start)))
        options.append((start * 2**stages, padding, stages))
    output, padding, stages = min(options)  # the smaller output; on a tie the paper's padding (0)
    if stages > len(STAGES):
        raise InvertnetError(f"a {side}x{side} map needs {stages} up-convolutions to reach {size} pixels; Table 1's tail has {len(STAGES)}")
    return Plan("conv", feature_shape[0], stages, padding, output)


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
    feature_shape: tuple[int, ...]

    def check_features(self, features: torch.Tensor) -> None:
        """Refuse features that are not of this generator's layer (or, for a VAE's decoder, of its code)."""
        expected = self.feature_shape
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
    """Inverts one encoder layer: features (N, *feature_shape) -> images (N, 3, size, size), 0-255."""

    def __init__(
        self, layer: str, mean: tuple[float, ...] = IMAGENET_MEAN_255, size: int = INPUT_SIZE, tail_bias: bool = False,
        width: int = FC_WIDTH, in_features: int | None = None, feature_shape: tuple[int, ...] | None = None, upconv_bias: bool = False,
    ) -> None:
        """``mean``: the RGB mean (0-255) added to the network's output; ``size``: the crop the encoder takes;
        ``tail_bias``: give conv5_1, conv4_1, conv3_1 biases, as generators of invertnet before 0.2 had (see :func:`has_tail_biases`);
        ``width``: defc7's and defc6's outputs (Table 1: 4096; smaller only for quick runs such as the tests');
        ``in_features``: what defc7 takes, if not the layer's features (a VAE's code);
        ``feature_shape``: the layer's (torchvision's AlexNet's for ``layer`` if not given);
        ``upconv_bias``: give the up-convolutions (deconv0 included) biases too, as a generator of bdpy's ``AlexNetGenerator``
        initialised in torch has (:func:`invertnet.weights.upconvgan.generator_from_upconvgan` with ``biases=True``)."""
        super().__init__()
        if feature_shape is None:
            if layer not in FEATURE_SHAPES:
                raise InvertnetError(f"AlexNet has no layer {layer!r}: give the feature shape of the encoder's {layer}")
            if layer in CAFFENET_ONLY_LAYERS:
                raise InvertnetError(
                    f"invertnet trains generators for CaffeNet's {', '.join(TRAINABLE_LAYERS)} (the paper's Table 1 architecture); "
                    f"for {layer}, use the authors' generator: --weights deepsim:{layer}"
                )
            feature_shape = FEATURE_SHAPES[layer]
        self.feature_shape = tuple(feature_shape) if in_features is None else (in_features,)
        self.layer, self.size = layer, size
        self.plan = plan(self.feature_shape, size)
        if not 1 <= size <= self.plan.output_size:
            raise ValueError(f"the crop size must be between 1 and {self.plan.output_size}, got {size}")
        self.output_size = self.plan.output_size
        if self.plan.head == "conv" and (width != FC_WIDTH or in_features is not None):
            raise ValueError(f"the {layer} generator has no fully connected layers to change the width or inputs of")
        channels = self.plan.head_channels
        if self.plan.head == "conv":
            self.head = nn.Sequential(
                _conv(self.plan.in_features, channels), _act(),
                _conv(channels, channels), _act(),
                _conv(channels, channels, padding=self.plan.padding), _act(),
            )
        else:
            self.head = nn.Sequential(
                nn.Linear(self.plan.in_features, width), _act(),  # defc7
                nn.Linear(width, width), _act(),  # defc6
                nn.Linear(width, FC_WIDTH), _act(),  # defc5: 256 x 4 x 4 for the tail
                nn.Unflatten(1, (256, FC_SIDE, FC_SIDE)),
            )
        self.tail = _tail(channels, self.plan.stages, tail_bias, upconv_bias)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.apply(_he_init)

    def full(self, features: torch.Tensor) -> torch.Tensor:
        """The whole ``output_size`` output, RGB in 0-255 units (not clamped)."""
        self.check_features(features)
        if self.plan.head == "fc":
            features = features.flatten(1)  # a map too small for the conv head enters as a vector
        return self.tail(self.head(features)) + self.mean


def _tail(channels: int, stages: int, tail_bias: bool, upconv_bias: bool = False) -> nn.Sequential:
    """Table 1's tail from its last ``stages`` stages, taking ``channels``; with none, one 3x3 convolution to RGB."""
    if stages == 0:
        return nn.Sequential(_conv(channels, 3, bias=False))
    layers: list[nn.Module] = []
    for stage in STAGES[len(STAGES) - stages :]:
        for kind, out in stage:
            layers.append(_upconv(channels, out, upconv_bias) if kind == "up" else _conv(channels, out, bias=tail_bias))
            layers.append(_act())
            channels = out
    return nn.Sequential(*layers[:-1])  # deconv0 is linear


def build_generator(layer: str, encoder: object | None = None) -> Generator:
    """A freshly initialised generator for ``layer`` of ``encoder`` (its mean, input size and feature shape; torchvision's AlexNet by default)."""
    if encoder is None:
        return Generator(layer)
    return Generator(layer, mean=encoder.generator_mean, size=encoder.input_size, feature_shape=encoder.feature_shape(layer))  # type: ignore[attr-defined]
