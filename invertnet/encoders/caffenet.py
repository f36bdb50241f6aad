"""CaffeNet, the network the paper's generators were trained against (``bvlc_reference_caffenet``).

Architecture (Caffe's ``models/bvlc_reference_caffenet/deploy.prototxt``): conv1 96 11x11
stride 4, ReLU, max-pool 3/2, LRN (5, alpha 1e-4, beta 0.75); conv2 256 5x5 pad 2 in 2 groups,
ReLU, max-pool, LRN; conv3 384 3x3 pad 1; conv4 384 3x3 pad 1, 2 groups; conv5 256 3x3 pad 1,
2 groups; max-pool (pool5); fc6 4096, fc7 4096 (ReLU and dropout each); fc8 1000. Unlike
torchvision's AlexNet it pools before normalising and splits conv2, conv4 and conv5 into two
groups (the two GPUs of Krizhevsky et al.).

Input: 227x227, BGR, 0-255, minus the ILSVRC-2012 mean per channel (B 104, G 117, R 123, the
values of the upconvGAN port; Caffe subtracted the mean image, whose channel means these
are to within a level). The taps are the blobs the authors' generators read, each with the
processing that follows the layer in Caffe: norm1 and norm2 (ReLU, max-pool, then LRN),
conv3 and conv4 (rectified: Caffe's ReLUs run in place, so the ``conv3`` blob a generator reads
is relu3's output), pool5, fc6 and fc7 after their ReLU, fc8 before the softmax (``prob``
after it). Images enter as RGB floats in [0, 1]; the conversion is done here.
"""

from __future__ import annotations

import os
from copy import deepcopy

import torch
from torch import nn

from ..errors import InvertnetError
from ..files.caffemodel import read_caffemodel
from ..files.state import load_checked
from ..initialisation import no_default_init
from .alexnet import FEATURE_SHAPES, LAYERS, MAX_WEIGHTS_BYTES, check_layer, variance_preserving_init
from .base import Encoder
from .random_weights import random_network

INPUT_SIZE = 227
BGR_MEAN = (104.0, 117.0, 123.0)
"""The per-channel mean subtracted from 0-255 BGR input (the upconvGAN port's values)."""
RGB_MEAN = tuple(reversed(BGR_MEAN))
"""The same mean in RGB order: what a generator for CaffeNet adds to its output."""

CAFFE_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


class CaffeNet(Encoder):
    """CaffeNet, frozen in eval mode, returning the activations of one or more of :data:`LAYERS`."""

    input_size = INPUT_SIZE
    generator_mean = RGB_MEAN
    family = "caffenet"
    layers = LAYERS
    comparator_layer = "conv5"

    def __init__(self, identity: str = "caffenet") -> None:
        super().__init__()
        self.identity = identity
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6 = nn.Linear(256 * 6 * 6, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, 1000)
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # Caffe rounds pooled sizes up
        self.norm = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)  # Caffe divides alpha by the size too
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def up_to(self, layer: str) -> CaffeNet:
        """A trainable copy holding only the layers that compute ``layer`` (the VAE's encoder: every parameter gets a gradient)."""
        copy = deepcopy(self).requires_grad_(True)
        for name in LAYERS[LAYERS.index(check_layer(layer)) + 1 :]:
            if name in ("fc6", "fc7", "fc8"):
                setattr(copy, name, None)
        return copy

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        return {layer: FEATURE_SHAPES[layer] for layer in self.layers}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] (N, 3, 227, 227) -> the network's input: BGR, 0-255, minus the mean."""
        self.check_images(images)
        return images.flip(1) * 255.0 - self.mean

    def forward(self, images: torch.Tensor, layers: str | tuple[str, ...] = "fc8") -> torch.Tensor | dict[str, torch.Tensor]:
        """Features of ``images`` (N, 3, 227, 227, RGB in [0, 1]): one tensor for one layer name, a dict for a tuple.

        The network runs only as far as the deepest layer asked for.
        """
        wanted = (layers,) if isinstance(layers, str) else tuple(layers)
        for name in wanted:
            self.check_layer(name)
        deepest = max(LAYERS.index(name) for name in wanted)
        relu, out = torch.relu, {}
        steps = (
            ("norm1", lambda x: self.norm(self.pool(relu(self.conv1(self.preprocess(x)))))),
            ("norm2", lambda x: self.norm(self.pool(relu(self.conv2(x))))),
            ("conv3", lambda x: relu(self.conv3(x))),
            ("conv4", lambda x: relu(self.conv4(x))),
            ("conv5", lambda x: self.pool(relu(self.conv5(x)))),
            ("fc6", lambda x: relu(self.fc6(x.flatten(1)))),
            ("fc7", lambda x: relu(self.fc7(x))),
            ("fc8", self.fc8),
            ("prob", lambda x: torch.softmax(x, 1)),
        )
        x = images
        for name, step in steps[: deepest + 1]:
            x = out[name] = step(x)
        return out[wanted[0]] if isinstance(layers, str) else {name: out[name] for name in wanted}


def caffenet_from_caffemodel(path: str | os.PathLike[str], identity: str = "caffenet") -> CaffeNet:
    """CaffeNet with the weights of a ``.caffemodel`` (``bvlc_reference_caffenet.caffemodel``), read by :mod:`invertnet.files.caffemodel`."""
    layers = read_caffemodel(path, max_bytes=MAX_WEIGHTS_BYTES)
    missing = [name for name in CAFFE_LAYERS if name not in layers]
    if missing:
        raise InvertnetError(f"{path} is not CaffeNet: it has no {', '.join(missing)} (its layers: {', '.join(layers)})")
    with no_default_init():  # every weight comes from the file next
        net = CaffeNet(identity)
    state: dict[str, torch.Tensor] = {}
    for name in CAFFE_LAYERS:
        module = getattr(net, name)
        blobs = layers[name]
        if len(blobs) != 2:
            raise InvertnetError(f"{path}: layer {name} has {len(blobs)} blobs, CaffeNet's have 2 (weights and bias)")
        weight, bias = blobs[0].reshape(-1), blobs[1].reshape(-1)
        if weight.numel() != module.weight.numel() or bias.numel() != module.bias.numel():
            raise InvertnetError(
                f"{path}: layer {name} holds {weight.numel()} weights and {bias.numel()} biases, "
                f"CaffeNet's has {module.weight.numel()} and {module.bias.numel()}"
            )
        state[f"{name}.weight"], state[f"{name}.bias"] = weight.view_as(module.weight), bias
    load_checked(net, state, f"the CaffeNet weights in {path}")
    return net


def caffenet_from_state_dict(state: dict[str, torch.Tensor], identity: str, source: str = "the weights") -> CaffeNet:
    """CaffeNet from a state dict with this module's key names (``conv1.weight``, ..., ``fc8.bias``)."""
    with no_default_init():  # every weight comes from the state dict next
        net = CaffeNet(identity)
    load_checked(net, state, source, "CaffeNet with invertnet's key names (conv1.weight, ..., fc8.bias)")
    return net


def normalise_port_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The upconvGAN port's keys as its loader reads them: no ``G.``/``net.`` prefix, ``.1.`` -> ``.``.

    The port's loader renames every key with ``name.replace(".1.", ".")`` ("discard this
    inconsistency"; a comment beside it lists ``defc7.1.weight`` for ``defc7.weight``), so its
    files may carry either form.
    """
    for prefix in ("G.", "net."):
        if state and all(isinstance(key, str) and key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: value for key, value in state.items()}
    return {str(key).replace(".1.", "."): value for key, value in state.items()}


def caffenet_from_port(state: dict[str, torch.Tensor], identity: str, source: str = "the weights") -> CaffeNet:
    """CaffeNet from the upconvGAN port's ``caffenet.pt``: its ``Caffenet.net`` state dict, layers named as Caffe's (and as ours)."""
    return caffenet_from_state_dict(normalise_port_keys(state), identity, source)


def random_caffenet(seed: int) -> CaffeNet:
    """A CaffeNet with deterministic variance-preserving random weights (He; zero biases), for tests and proxies (drawn once per process)."""
    identity = f"caffenet:random:{seed}"

    def draw() -> CaffeNet:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            net = CaffeNet(identity)  # inside the fork too: a draw leaves the global RNG as it was, like a copy
            torch.manual_seed(seed)
            variance_preserving_init(net)
        return net

    return random_network(identity, draw, lambda: CaffeNet(identity))
