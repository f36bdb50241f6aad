"""The authors' generators for CaffeNet's norm1, norm2, conv3 and conv4 (run, not trained here).

Dosovitskiy & Brox released these beside the DeePSiM generators of conv5-fc8, in the layout of
their CVPR 2016 inversion networks rather than the paper's Table 1: a convolutional head
(``Rconv6``-``Rconv8``) brings the feature map to a small square, then 4x4 stride-2
up-convolutions alternate with 3x3 convolutions down to ``conv1_1``, whose output goes through
tanh and is scaled by 255. Leaky ReLU 0.3 follows every layer but the last, and, in the norm1
and norm2 generators, ``deconv1``. The layers and their sizes are those of the upconvGAN port
(Binxu Wang, ``upconvGAN`` in Animadversio/Neuro-ActMax-GAN-comparison ``core/utils/GAN_utils.py``),
whose output sizes agree with the Ponce lab's XDream catalogue (240x240 for norm1 and norm2,
256x256 for conv3 and conv4):

    norm1  96x27x27  -> Rconv6 3x3 stride 2 pad 2 -> 15 -> ... -> deconv1 -> 240
    norm2  256x13x13 -> Rconv6 3x3 pad 2 -> 15    -> ... -> deconv1 -> 240
    conv3, conv4  384x13x13 -> 3x3, 3x3, 2x2, no padding -> 8 -> deconv5 ... deconv1 -> 256

Every 3x3 layer is a convolution here (the port keeps some as their transposed twins; the
conversion in :mod:`invertnet.weights.upconvgan` flips them), every layer has its bias, and the
output is RGB (the port's is BGR: the last layer's channels are reordered) with the encoder's
mean added, like :class:`~invertnet.models.Generator`'s. The encoder sees the center crop of the
output at offset ``(output - input_size) // 2`` (14 of 256, 6 of 240 for CaffeNet's 227).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import nn

from ..encoders.alexnet import CAFFENET_ONLY_LAYERS, FEATURE_SHAPES
from ..errors import InvertnetError
from .generator import SLOPE, CroppedGenerator


class Layer(NamedTuple):
    """One layer with weights: ``up`` is a 4x4 stride-2 up-convolution, ``conv`` a convolution; ``act``: a leaky ReLU follows."""

    name: str
    kind: str
    inputs: int
    outputs: int
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    act: bool = True


def _up(name: str, inputs: int, outputs: int, act: bool = True) -> Layer:
    return Layer(name, "up", inputs, outputs, 4, 2, 1, act)


_NORM_TAIL = (
    _up("deconv4", 128, 128), Layer("conv4_1", "conv", 128, 128),
    _up("deconv3", 128, 64), Layer("conv3_1", "conv", 64, 64),
    _up("deconv2", 64, 32), Layer("conv2_1", "conv", 32, 32),
    _up("deconv1", 32, 16, act=False), Layer("conv1_1", "conv", 16, 3, act=False),
)
_CONV_TAIL = (
    _up("deconv5", 512, 256), Layer("conv5_1", "conv", 256, 256),
    _up("deconv4", 256, 128), Layer("conv4_1", "conv", 128, 128),
    _up("deconv3", 128, 128), Layer("conv3_1", "conv", 128, 128),
    _up("deconv2", 128, 64), Layer("conv2_1", "conv", 64, 32),
    _up("deconv1", 32, 16), Layer("conv1_1", "conv", 16, 3, act=False),
)
_CONV_HEAD = (
    Layer("Rconv6", "conv", 384, 384, padding=0),
    Layer("Rconv7", "conv", 384, 512, padding=0),
    Layer("Rconv8", "conv", 512, 512, 2, padding=0),
)
EARLY_LAYOUTS: dict[str, tuple[Layer, ...]] = {
    "norm1": (
        Layer("Rconv6", "conv", 96, 128, stride=2, padding=2), Layer("Rconv7", "conv", 128, 128), Layer("Rconv8", "conv", 128, 128),
        *_NORM_TAIL,
    ),
    "norm2": (
        Layer("Rconv6", "conv", 256, 256, padding=2), Layer("Rconv7", "conv", 256, 128), Layer("Rconv8", "conv", 128, 128), *_NORM_TAIL,
    ),
    "conv3": (*_CONV_HEAD, *_CONV_TAIL),
    "conv4": (*_CONV_HEAD, *_CONV_TAIL),
}
"""Each generator's layers in order, named as in the authors' Caffe files and the port."""
OUTPUT_SIZES = {"norm1": 240, "norm2": 240, "conv3": 256, "conv4": 256}


def _module(layer: Layer) -> nn.Module:
    if layer.kind == "up":
        return nn.ConvTranspose2d(layer.inputs, layer.outputs, layer.kernel, layer.stride, layer.padding)
    return nn.Conv2d(layer.inputs, layer.outputs, layer.kernel, layer.stride, layer.padding)


class EarlyLayerGenerator(CroppedGenerator):
    """The authors' generator for ``layer`` (norm1, norm2, conv3, conv4): features -> RGB images in 0-255 units."""

    def __init__(self, layer: str, mean: tuple[float, ...], size: int) -> None:
        """``mean``: the RGB mean (0-255) added to the output; ``size``: the center crop the encoder takes."""
        super().__init__()
        if layer not in CAFFENET_ONLY_LAYERS:
            raise InvertnetError(f"no early-layer generator for {layer!r}: they exist for {', '.join(CAFFENET_ONLY_LAYERS)}")
        self.layer, self.output_size, self.feature_shape = layer, OUTPUT_SIZES[layer], FEATURE_SHAPES[layer]
        if not 1 <= size <= self.output_size:
            side = self.output_size
            raise InvertnetError(f"the {layer} generator makes {side}x{side} images, smaller than the crop of {size}")
        self.size = size
        modules: list[tuple[str, nn.Module]] = []
        for spec in EARLY_LAYOUTS[layer]:
            modules.append((spec.name, _module(spec)))
            if spec.act:
                modules.append((f"relu_{spec.name}", nn.LeakyReLU(SLOPE)))
        self.net = nn.Sequential(OrderedDict(modules))
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)

    def full(self, features: torch.Tensor) -> torch.Tensor:
        """The whole output (240 or 256 square), RGB in 0-255 units (not clamped)."""
        self.check_features(features)
        return torch.tanh(self.net(features)) * 255.0 + self.mean
