"""torchvision's classifiers as encoders: VGG-16, ResNet-50 and ViT-B/16 by name, any other by its graph nodes.

Researchers train an inverter to see what *their* network keeps, and today that is rarely AlexNet.
Three networks have curated layer names and are tested: VGG-16 (the perceptual-loss and
DGN-AM literature's network), ResNet-50 (the most studied convolutional network today, and the
one brain-encoding benchmarks score first) and ViT-B/16 (a transformer: tokens, not maps). Any
other classification model torchvision's registry knows (``torchvision.models.list_models``)
loads too, with its own weights enum, and its layers are its modules down to two levels (``layer2``,
``layer2.1``, ``features.3``, ``avgpool``), each read at its output: ``invertnet layers NAME`` lists them.

The layers, each with the processing that follows it (as the paper's conv5 is pool5):

- ``vgg16``: Caffe's blob names, ``conv1_1`` ... ``conv5_3`` after their ReLU (Caffe's in-place ReLU
  leaves the blob rectified), ``pool1`` ... ``pool5``, ``fc6`` and ``fc7`` after their ReLU, ``fc8`` the logits;
- ``resnet50``: its modules, ``conv1`` (after ReLU), ``pool1``, ``layer1`` ... ``layer4`` (each stage's output),
  ``avgpool`` (2048), ``fc`` (the logits);
- ``vit_b_16``: ``block1`` ... ``block12``, each encoder block's patch tokens as a 768 x 14 x 14 map
  (token (i, j) of the 14 x 14 grid at [:, i, j]; the class token left out), ``cls`` (the class token
  after the final LayerNorm: what the head reads, 768), ``head`` (the logits);
- all: ``prob``, the softmax of the logits.

The weights, after the name:

- nothing: torchvision's ImageNet weights, read from torch.hub's cache (downloaded when missing and
  allowed), checked against the SHA-256 prefix in the file's name and read with ``weights_only=True``:
  ``IMAGENET1K_V1`` for the three (what the literature used), the registry's ``DEFAULT`` for others;
- ``:PATH``: a state dict (``.pth``/``.pt`` or ``.safetensors``) with torchvision's key names;
- ``:random:SEED``: torchvision's own initialisation, seeded without touching the global generator.

Each network's default comparator is a mid-level spatial layer (``layer3``, ``conv4_3``, ``block6``):
spatial, because the comparator is there to keep the layout; past the edge and texture stages and
before the last stage, whose features are the most invariant (the reason the paper took AlexNet's
conv5 and not fc6). Input: 224 x 224 RGB in [0, 1] (the crop the weights' transforms name for other
networks), normalised here with the weights' mean and std.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import get_model, get_model_weights, list_models
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from ..errors import InvertnetError
from ..files.downloads import file_hash, read_state_dict
from ..files.state import load_checked
from ..initialisation import no_default_init
from .alexnet import hub_checkpoint_path, hub_state_dict, parse_seed
from .base import Encoder

MAX_CLASSIFIER_BYTES = 2 << 30
"""VGG-16 holds 138M float32 values (528 MB), ViT-B/16 86M, ResNet-50 26M; a file over 2 GiB is refused unread."""

PROB = "prob"


@dataclass(frozen=True)
class Tap:
    """Where a layer is read: a torchvision graph node, and what is done to its output (``patches``, ``first token``, ``softmax``)."""

    node: str
    then: str = ""


_VGG16_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
"""(block, convolutions in it) of VGG-16, in torchvision's ``features`` order."""


def _vgg16_taps() -> dict[str, Tap]:
    taps, index = {}, 0
    for block, convolutions in _VGG16_BLOCKS:
        for conv in range(1, convolutions + 1):
            taps[f"conv{block}_{conv}"] = Tap(f"features.{index + 1}")  # the ReLU after the convolution at `index`
            index += 2
        taps[f"pool{block}"] = Tap(f"features.{index}")
        index += 1
    return taps | {"fc6": Tap("classifier.1"), "fc7": Tap("classifier.4"), "fc8": Tap("classifier.6"), PROB: Tap("classifier.6", "softmax")}


def _vit_taps(blocks: int) -> dict[str, Tap]:
    taps = {f"block{k + 1}": Tap(f"encoder.layers.encoder_layer_{k}", "patches") for k in range(blocks)}
    return taps | {"cls": Tap("encoder.ln", "first token"), "head": Tap("heads.head"), PROB: Tap("heads.head", "softmax")}


CURATED: dict[str, tuple[dict[str, Tap], str]] = {
    "vgg16": (_vgg16_taps(), "conv4_3"),
    "resnet50": (
        {
            "conv1": Tap("relu"), "pool1": Tap("maxpool"), "layer1": Tap("layer1"), "layer2": Tap("layer2"), "layer3": Tap("layer3"),
            "layer4": Tap("layer4"), "avgpool": Tap("flatten"), "fc": Tap("fc"), PROB: Tap("fc", "softmax"),
        },
        "layer3",
    ),
    "vit_b_16": (_vit_taps(12), "block6"),
}
"""The three tested networks (:data:`invertnet.names.CURATED_NETWORKS`): each layer's tap, and the default comparator layer."""


@functools.cache
def torchvision_networks() -> tuple[str, ...]:
    """Every classification model in torchvision's registry (``alexnet`` is invertnet's own encoder, not listed)."""
    return tuple(name for name in list_models(module=torchvision.models) if name != "alexnet")


def is_torchvision(spec: str) -> bool:
    """Whether ``spec`` names a torchvision classifier (``vgg16``, ``vgg16:PATH``, ``resnet50:random:0``, ``efficientnet_b0``...)."""
    name = spec.split(":", 1)[0]
    return name in CURATED or name in torchvision_networks()


def _default_weights(name: str) -> object:
    """The weights enum member invertnet reads for ``name``: ``IMAGENET1K_V1`` for the three, the registry's ``DEFAULT`` else."""
    weights = get_model_weights(name)
    return weights.IMAGENET1K_V1 if name in CURATED else weights.DEFAULT


@functools.cache
def _geometry(name: str) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """(input size, mean, std) of ``name``'s ImageNet weights, from their transforms (no download)."""
    transforms = _default_weights(name).transforms()
    return int(transforms.crop_size[0]), tuple(transforms.mean), tuple(transforms.std)


def _generic_taps(name: str) -> tuple[dict[str, Tap], str]:
    """An uncurated network's layers: its modules down to two levels (``layer3``, ``layer3.1``, ``features.4``), each read
    at its output (the last graph node inside it), and its middle spatial one as the comparator."""
    with torch.device("meta"):
        net = get_model(name, weights=None).eval()
    nodes = get_graph_node_names(net)[1]
    modules = [module for module, _ in net.named_modules() if module and module.count(".") <= 1]
    inside = {module: [node for node in nodes if node == module or node.startswith(module + ".")] for module in modules}
    candidates = {module: Tap(found[-1]) for module, found in inside.items() if found}
    order = sorted(candidates, key=lambda module: (nodes.index(candidates[module].node), -module.count(".")))
    shapes = _dry_run(net, candidates, _geometry(name)[0])
    taps = {module: candidates[module] for module in order if module in shapes}
    last = list(taps)[-1]
    spatial = [layer for layer in taps if len(shapes[layer]) == 3]
    return taps | {PROB: Tap(taps[last].node, "softmax")}, spatial[len(spatial) // 2] if spatial else last


def _dry_run(net: nn.Module, taps: dict[str, Tap], size: int) -> dict[str, tuple[int, ...]]:
    """Each tap's feature shape, from one pass on the meta device (no weights, no arithmetic); taps that give no batch of tensors are left out."""
    nodes = sorted({tap.node for tap in taps.values()})
    with torch.device("meta"):
        found = create_feature_extractor(net, return_nodes=nodes)(torch.empty(2, 3, size, size))
    shapes = {}
    for layer, tap in taps.items():
        value = found.get(tap.node)
        if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.shape[0] == 2:
            shapes[layer] = tuple(_after(tap, value).shape[1:])
    return shapes


def _after(tap: Tap, value: torch.Tensor) -> torch.Tensor:
    """A tap's node output, processed as the tap says."""
    if tap.then == "softmax":
        return torch.softmax(value, 1)
    if tap.then == "first token":
        return value[:, 0]
    if tap.then == "patches":  # (N, 1 + side^2, C) -> (N, C, side, side), the class token dropped
        tokens = value[:, 1:]
        side = int(round(tokens.shape[1] ** 0.5))
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], side, side)
    return value


@functools.cache
def layout(name: str) -> tuple[tuple[tuple[str, Tap], ...], str, tuple[tuple[str, tuple[int, ...]], ...]]:
    """(taps, comparator layer, feature shapes) of a network, found once without its weights."""
    taps, comparator = CURATED[name] if name in CURATED else _generic_taps(name)
    with torch.device("meta"):
        net = get_model(name, weights=None).eval()
    shapes = _dry_run(net, taps, _geometry(name)[0])
    return tuple(taps.items()), comparator, tuple(shapes.items())


class TorchvisionEncoder(Encoder):
    """A frozen torchvision classifier in eval mode that returns the features of named layers."""

    def __init__(self, name: str, net: nn.Module, identity: str) -> None:
        super().__init__()
        taps, comparator, shapes = layout(name)
        self.family, self.net, self.identity = name, net, identity
        self.taps, self.shapes = dict(taps), dict(shapes)
        self.layers: tuple[str, ...] = tuple(self.shapes)
        self.comparator_layer = comparator
        self.logits_layer = next(layer for layer, tap in self.taps.items() if tap.node == self.taps[PROB].node and layer != PROB)
        self.input_size, mean, std = _geometry(name)
        self.generator_mean = tuple(255.0 * value for value in mean)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.extractors = nn.ModuleDict()  # one per set of taps asked for, built on first use
        self.requires_grad_(False)
        self.eval()

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self.shapes)

    @staticmethod
    def input_size_of(name: str) -> int:
        """The input size of the network ``name``, without building it."""
        return _geometry(name)[0]

    @staticmethod
    def generator_mean_of(name: str) -> tuple[float, ...]:
        """The mean (0-255 RGB) a generator for ``name`` adds to its output: its weights' normalisation mean."""
        return tuple(255.0 * value for value in _geometry(name)[1])

    def forward(self, images: torch.Tensor, layers: str | tuple[str, ...] = PROB) -> torch.Tensor | dict[str, torch.Tensor]:
        """Features of ``images`` (N, 3, S, S, RGB in [0, 1]): a tensor for one layer name, a dict for a tuple."""
        wanted = (layers,) if isinstance(layers, str) else tuple(layers)
        for layer in wanted:
            self.check_layer(layer)
        self.check_images(images)
        nodes = sorted({self.taps[layer].node for layer in wanted})
        key = "+".join(nodes).replace(".", "_")  # a ModuleDict key may not hold dots
        if key not in self.extractors:
            self.extractors[key] = create_feature_extractor(self.net, return_nodes=nodes).eval()
        found = self.extractors[key]((images - self.mean) / self.std)
        out = {layer: _after(self.taps[layer], found[self.taps[layer].node]) for layer in wanted}
        return out[wanted[0]] if isinstance(layers, str) else out


def _hash_prefix(url: str) -> str:
    """The SHA-256 prefix torchvision writes in its files' names (``vgg16-397923af.pth``)."""
    found = re.search(r"-([0-9a-f]{8,})\.pth$", url)
    if found is None:
        raise InvertnetError(f"{url}: no hash in the file's name to check the download against")
    return found.group(1)


def load_torchvision(spec: str, *, device: torch.device | str = "cpu") -> TorchvisionEncoder:
    """The frozen classifier ``spec`` names: ``NAME``, ``NAME:PATH`` or ``NAME:random:SEED`` (see the module docstring)."""
    name, _, rest = spec.partition(":")
    if not is_torchvision(name):
        raise InvertnetError(f"{spec!r} names no torchvision classifier: choose {', '.join(CURATED)} or one of torchvision.models.list_models()")
    build: Callable[[], nn.Module] = lambda: get_model(name, weights=None)  # noqa: E731
    if rest.startswith("random:"):
        seed = parse_seed(rest.split(":", 1)[1], f"{spec!r}: the seed after '{name}:random:'")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build()
        return TorchvisionEncoder(name, net, f"{name}:random:{seed}").to(device)
    if rest == "":
        url = _default_weights(name).url  # type: ignore[attr-defined]
        what = f"torchvision's ImageNet {name} weights"
        hint = f"or name a copy you have as the encoder {name}:PATH, or use random weights: {name}:random:SEED"
        state = hub_state_dict(url, _hash_prefix(url), what, hint, max_bytes=MAX_CLASSIFIER_BYTES)
        identity, where = name, str(hub_checkpoint_path(url))
    else:
        path = Path(rest)
        state, identity, where = read_state_dict(path, f"{name} weights", max_bytes=MAX_CLASSIFIER_BYTES), f"{name}:file:{file_hash(path)[:16]}", rest
    with no_default_init():  # every weight comes from the file next
        net = build()
    load_checked(net, state, f"the {name} weights in {where}", f"torchvision's {type(net).__name__}")
    return TorchvisionEncoder(name, net, identity).to(device)


