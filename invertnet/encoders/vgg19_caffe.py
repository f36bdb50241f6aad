"""VGG-19 as Caffe ran it (``VGG_ILSVRC_19_layers``), with bdpy's layer names and tap points: the iCNN encoder.

Simonyan & Zisserman's 19-layer network as released for Caffe (``VGG_ILSVRC_19_layers.caffemodel``,
its ``deploy.prototxt`` in the Caffe model zoo's gist 3785162f95cd2d5fee77) and as the KamitaniLab
ports it to torch (bdpy's ``VGG19`` in ``bdpy/dl/torch/models.py``, ``VGG_ILSVRC_19_layers.pt``):
sixteen 3x3 convolutions (pad 1) in five blocks of 64, 128, 256, 512, 512 channels, each block
ending in a 2x2 max-pool, then fc6 and fc7 (4096, ReLU, dropout) and fc8 (1000). bdpy's state dict
names the modules ``features.0`` ... ``features.34`` and ``classifier.0``/``.3``/``.6``, torchvision's
VGG-19 the same.

Taps (bdpy's ``layer_map('vgg19')``): ``conv1_1`` ... ``conv5_4`` are the convolutions' outputs
*before* their ReLU, ``fc6``/``fc7`` before theirs, ``relu6``/``relu7`` after, ``fc8`` the scores.
Input (the cookbook's ``image_preprocess``): 224x224, BGR, 0-255, minus the mean B 104, G 117, R 123.
Images enter as RGB floats in [0, 1]; the conversion is done here.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import InvertnetError
from ..files.caffemodel import read_caffemodel
from ..files.downloads import read_state_dict
from ..files.state import load_checked
from ..initialisation import no_default_init
from .alexnet import variance_preserving_init
from .base import Encoder

FAMILY = "vgg19_caffe"
INPUT_SIZE = 224
BGR_MEAN = (104.0, 117.0, 123.0)
BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
"""Channels and convolutions of each block."""
CONVOLUTIONS = tuple(f"conv{block + 1}_{index + 1}" for block, (_, count) in enumerate(BLOCKS) for index in range(count))
LAYERS = (*CONVOLUTIONS, "fc6", "relu6", "fc7", "relu7", "fc8")
MAX_WEIGHTS_BYTES = 700 << 20
"""VGG_ILSVRC_19_layers.caffemodel is 574,671,192 bytes; bdpy's .pt about the same."""


def _feature_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    side = INPUT_SIZE
    for block, (channels, count) in enumerate(BLOCKS):
        for index in range(count):
            shapes[f"conv{block + 1}_{index + 1}"] = (channels, side, side)
        side //= 2
    return {**shapes, "fc6": (4096,), "relu6": (4096,), "fc7": (4096,), "relu7": (4096,), "fc8": (1000,)}


FEATURE_SHAPES = _feature_shapes()


def _module_indices() -> dict[str, str]:
    """Each layer with weights -> its module in bdpy's (and torchvision's) state dict."""
    names, index = {}, 0
    for block, (_, count) in enumerate(BLOCKS):
        for conv in range(count):
            names[f"conv{block + 1}_{conv + 1}"] = f"features.{index}"
            index += 2
        index += 1
    return {**names, "fc6": "classifier.0", "fc7": "classifier.3", "fc8": "classifier.6"}


MODULES = _module_indices()


class VGG19Caffe(Encoder):
    """VGG-19 with Caffe's input and bdpy's taps, frozen in eval mode."""

    input_size = INPUT_SIZE
    generator_mean = tuple(reversed(BGR_MEAN))
    family = FAMILY
    layers = LAYERS
    comparator_layer = "conv5_4"
    logits_layer = "fc8"

    def __init__(self, identity: str = FAMILY) -> None:
        super().__init__()
        self.identity = identity
        modules: list[nn.Module] = []
        channels = 3
        for out, count in BLOCKS:
            for _ in range(count):
                modules += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
                channels = out
            modules.append(nn.MaxPool2d(2, stride=2))
        self.features = nn.Sequential(*modules)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000),
        )
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(FEATURE_SHAPES)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] (N, 3, 224, 224) -> BGR, 0-255, minus the mean."""
        self.check_images(images)
        return images.flip(1) * 255.0 - self.mean

    def forward(self, images: torch.Tensor, layers: str | tuple[str, ...] = "fc8") -> torch.Tensor | dict[str, torch.Tensor]:
        """Features of ``images`` (RGB in [0, 1]): one tensor for one layer name, a dict for a tuple; runs only as deep as asked."""
        wanted = (layers,) if isinstance(layers, str) else tuple(layers)
        for name in wanted:
            self.check_layer(name)
        deepest = max(LAYERS.index(name) for name in wanted)
        out: dict[str, torch.Tensor] = {}
        x, conv = self.preprocess(images), 0
        for module in self.features:
            if conv > deepest:
                break
            if isinstance(module, nn.Conv2d):
                x = out[CONVOLUTIONS[conv]] = module(x)
                conv += 1
            else:
                x = module(x)
        if deepest >= LAYERS.index("fc6"):
            fc6, fc7, fc8 = (self.classifier[index] for index in (0, 3, 6))
            out["fc6"] = fc6(x.flatten(1))
            out["relu6"] = torch.relu(out["fc6"])
            out["fc7"] = fc7(out["relu6"])  # dropout is off: eval mode
            out["relu7"] = torch.relu(out["fc7"])
            out["fc8"] = fc8(out["relu7"])
        return out[wanted[0]] if isinstance(layers, str) else {name: out[name] for name in wanted}


def random_vgg19_caffe(seed: int) -> VGG19Caffe:
    """VGG-19 with deterministic variance-preserving random weights (He; zero biases), for tests and proxies."""
    net = VGG19Caffe(f"{FAMILY}:random:{seed}")
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        variance_preserving_init(net)
    return net


def state_from_caffe_layers(layers: dict[str, list[torch.Tensor]], path: Path, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """bdpy's VGG19 state dict from a ``.caffemodel``'s layers (Caffe's names ``conv1_1`` ... ``fc8``, blobs weights then bias),
    shaped as ``expected`` (the state dict of the :class:`VGG19Caffe` they are for)."""
    missing = [name for name in MODULES if name not in layers]
    if missing:
        raise InvertnetError(f"{path} is not VGG-19: it has no {', '.join(missing[:5])} (its layers: {', '.join(list(layers)[:8])})")
    state = {}
    for name, module in MODULES.items():
        blobs = layers[name]
        if len(blobs) != 2:
            raise InvertnetError(f"{path}: layer {name} has {len(blobs)} blobs, VGG-19's have 2 (weights and bias)")
        weight, bias = expected[f"{module}.weight"], expected[f"{module}.bias"]
        if blobs[0].numel() != weight.numel() or blobs[1].numel() != bias.numel():
            raise InvertnetError(f"{path}: layer {name} holds {blobs[0].numel()} weights, VGG-19's {weight.numel()}")
        state[f"{module}.weight"], state[f"{module}.bias"] = blobs[0].reshape(weight.shape), blobs[1].reshape(bias.shape)
    return state


def vgg19_caffe_from_file(path: str | os.PathLike[str], identity: str) -> VGG19Caffe:
    """VGG-19 from ``VGG_ILSVRC_19_layers.caffemodel`` or bdpy's ``VGG19`` state dict (``.pt``/``.pth``/``.safetensors``)."""
    path = Path(path)
    with no_default_init():  # every weight comes from the file next
        net = VGG19Caffe(identity)
    if path.suffix == ".caffemodel":
        state = state_from_caffe_layers(read_caffemodel(path, max_bytes=MAX_WEIGHTS_BYTES), path, net.state_dict())
    else:
        state = read_state_dict(path, "VGG-19 weights", max_bytes=MAX_WEIGHTS_BYTES)
    load_checked(net, state, f"the VGG-19 weights in {path}", "bdpy's VGG19 (features.0.weight, ..., classifier.6.bias)")
    return net
