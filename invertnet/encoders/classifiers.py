"""torchvision's VGG16 and ResNet-50 as units to drive (``synthesize --target vgg16:fc8:945``), not networks to invert.

DGN-AM and the studies after it drive the units of classifiers other than the one the generator was
trained against. These two fit the interface synthesis asks of an encoder at no cost: 224x224 RGB in
[0, 1] (ImageNet's normalisation inside), named ``layers``, ``input_size``, ``identity`` and
``net(images, layer)``. The taps are torchvision's own graph nodes, taken with
``torchvision.models.feature_extraction``, which runs the network only as far as they need. Other
torchvision classifiers would fit as well; these two are the ones the DGN-AM and XDream literature
reports on, and any other network fits through the Python ``score`` callable of
:func:`invertnet.synthesis.synthesize`.

The weights, after the name (``vgg16``, ``resnet50``):

- nothing: torchvision's ``IMAGENET1K_V1`` from torch.hub's cache, downloaded when missing and
  allowed, checked against the SHA-256 prefix in its file's name (as ``--alexnet imagenet`` is);
- ``:PATH``: a state dict (``.pth``/``.pt`` or ``.safetensors``) with torchvision's key names;
- ``:random:SEED``: torchvision's own initialisation, seeded (for VGG16 it is He's, variance-preserving, as
  AlexNet's ``random:SEED`` is; ResNet-50's residual sums grow layer after layer, as they do untrained).

Layer names follow Caffe's VGG16 (``conv5_3`` is after its ReLU, as Caffe's in-place ReLU leaves
it) and torchvision's ResNet modules (``layer4`` is the last block's output); ``prob`` is the
softmax of the logits (``fc8``, ``fc``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, VGG16_Weights, resnet50, vgg16
from torchvision.models.feature_extraction import create_feature_extractor

from ..errors import InvertnetError
from ..files.downloads import file_hash, read_state_dict
from ..names import CLASSIFIERS
from .alexnet import IMAGENET_MEAN, IMAGENET_STD, hub_checkpoint_path, hub_state_dict, parse_seed

INPUT_SIZE = 224
MAX_CLASSIFIER_BYTES = 1 << 30
"""VGG16 holds 138M float32 values (528 MB), ResNet-50 26M (98 MB); a file over 1 GiB is refused unread."""

_VGG16_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
"""(block, convolutions in it) of VGG16, in torchvision's ``features`` order."""


def _vgg16_taps() -> dict[str, str]:
    taps, index = {}, 0
    for block, convolutions in _VGG16_BLOCKS:
        for conv in range(1, convolutions + 1):
            taps[f"conv{block}_{conv}"] = f"features.{index + 1}"  # the ReLU after the convolution at `index`
            index += 2
        taps[f"pool{block}"] = f"features.{index}"
        index += 1
    return taps | {"fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6"}


TAPS: dict[str, dict[str, str]] = {
    "vgg16": _vgg16_taps(),
    "resnet50": {
        "conv1": "relu", "pool1": "maxpool", "layer1": "layer1", "layer2": "layer2", "layer3": "layer3", "layer4": "layer4",
        "avgpool": "flatten", "fc": "fc",
    },
}
"""Each network's layer names and the torchvision graph node each one is."""
LOGITS = {"vgg16": "fc8", "resnet50": "fc"}
BUILDERS: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "vgg16": (vgg16, VGG16_Weights.IMAGENET1K_V1.url), "resnet50": (resnet50, ResNet50_Weights.IMAGENET1K_V1.url),
}
"""Each network's torchvision constructor and the URL of its ImageNet weights."""


class Classifier(nn.Module):
    """A frozen torchvision classifier in eval mode that returns the activations of named layers."""

    input_size = INPUT_SIZE

    def __init__(self, name: str, net: nn.Module, identity: str) -> None:
        super().__init__()
        self.name = name
        self.net = net
        self.identity = identity
        self.layers: tuple[str, ...] = (*TAPS[name], "prob")
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.extractors = nn.ModuleDict()  # one per set of taps asked for, built on first use
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Classifier:
        """Stay in eval mode: batch norm's running statistics and no dropout."""
        return super().train(False)

    def _node(self, layer: str) -> str:
        return TAPS[self.name][LOGITS[self.name] if layer == "prob" else layer]

    def forward(self, images: torch.Tensor, layers: str | tuple[str, ...] = "prob") -> torch.Tensor | dict[str, torch.Tensor]:
        """Features of ``images`` (N, 3, 224, 224, RGB in [0, 1]): a tensor for one layer name, a dict for a tuple."""
        wanted = (layers,) if isinstance(layers, str) else tuple(layers)
        for layer in wanted:
            if layer not in self.layers:
                raise InvertnetError(f"the encoder {self.identity} has no layer {layer!r}: its layers are {', '.join(self.layers)}")
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise InvertnetError(f"{self.name} expects {INPUT_SIZE}x{INPUT_SIZE} images, got {tuple(images.shape[-2:])}")
        nodes = sorted({self._node(layer) for layer in wanted})
        key = "+".join(nodes).replace(".", "_")  # a ModuleDict key may not hold dots
        if key not in self.extractors:
            self.extractors[key] = create_feature_extractor(self.net, return_nodes=nodes).eval()
        found = self.extractors[key]((images - self.mean) / self.std)
        out = {layer: torch.softmax(found[self._node(layer)], 1) if layer == "prob" else found[self._node(layer)] for layer in wanted}
        return out[wanted[0]] if isinstance(layers, str) else out


def is_classifier(spec: str) -> bool:
    """Whether ``spec`` names one of :data:`CLASSIFIERS` (``vgg16``, ``vgg16:PATH``, ``resnet50:random:0``, ...)."""
    return spec.split(":", 1)[0] in CLASSIFIERS


def _hash_prefix(url: str) -> str:
    """The SHA-256 prefix torchvision writes in its files' names (``vgg16-397923af.pth``)."""
    found = re.search(r"-([0-9a-f]{8,})\.pth$", url)
    if found is None:
        raise InvertnetError(f"{url}: no hash in the file's name to check the download against")
    return found.group(1)


def load_classifier(spec: str, *, device: torch.device | str = "cpu") -> Classifier:
    """The frozen classifier ``spec`` names: ``vgg16``, ``vgg16:PATH``, ``vgg16:random:SEED`` (and the same for resnet50)."""
    name, _, rest = spec.partition(":")
    if name not in CLASSIFIERS:
        raise InvertnetError(f"{spec!r} names no classifier: choose {', '.join(CLASSIFIERS)}")
    build, url = BUILDERS[name]
    if rest.startswith("random:"):
        seed = parse_seed(rest.split(":", 1)[1], f"{spec!r}: the seed after '{name}:random:'")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build(weights=None)
        return Classifier(name, net, f"{name}:random:{seed}").to(device)
    if rest == "":
        what = f"torchvision's ImageNet {name} weights"
        state = hub_state_dict(url, _hash_prefix(url), what, f"or name a file: {name}:PATH", max_bytes=MAX_CLASSIFIER_BYTES)
        identity = name
    else:
        path = Path(rest)
        state, identity = read_state_dict(path, f"{name} weights", max_bytes=MAX_CLASSIFIER_BYTES), f"{name}:file:{file_hash(path)[:16]}"
    net = build(weights=None)
    _load(net, state, f"the {name} weights in {rest or hub_checkpoint_path(url)}")
    return Classifier(name, net, identity).to(device)


def _load(net: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``net``, or say in one line which names or shapes do not fit torchvision's."""
    expected = net.state_dict()
    missing, unexpected = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
    if missing or unexpected:
        parts = [f"{len(names)} {kind} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
                 for kind, names in (("missing", missing), ("unexpected", unexpected)) if names]
        raise InvertnetError(f"{what} do not fit torchvision's {type(net).__name__}: names {' and '.join(parts)}")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise InvertnetError(f"{what} do not fit torchvision's {type(net).__name__}: {key} is {shape}, not {tuple(expected[key].shape)}")
    net.load_state_dict(state)
