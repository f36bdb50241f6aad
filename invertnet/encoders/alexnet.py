"""The AlexNet whose features are inverted, and the feature taps the generators read.

Three ways to get the weights (the ``--encoder`` option):

- ``imagenet``: torchvision's ``AlexNet_Weights.IMAGENET1K_V1``, read from torch.hub's cache
  (``$TORCH_HOME/hub/checkpoints``). It is downloaded only when missing and downloads are
  allowed (set ``INVERTNET_OFFLINE=1`` to forbid them). Whether downloaded or copied in by
  hand, the file must have the SHA-256 prefix its name carries (``7be5be79``) and is read
  with ``weights_only=True``: torch.hub's own loader unpickles the cached file without that
  guard and checks the hash only on download, so a file planted in the cache would run code.
- a path to a state dict (``.pth``/``.pt`` or ``.safetensors``) with torchvision's key names.
- ``random:SEED``: a deterministic, variance-preserving random initialisation (He: normal
  weights of variance 2 / fan-in, zero biases), whose activations keep the scale of the
  input through the network, as a trained network's do. Tests and demos use it, and it is
  the paper's "AlexNet with random weights" comparator.
- ``random-torchvision:SEED``: torchvision's own initialisation (PyTorch's defaults), what
  ``random:SEED`` meant before: its activations shrink layer after layer (pool5 averages
  about 0.04 for seed 0, against about 1 with ``random:SEED``).

Images enter as RGB floats in [0, 1], 224x224; the ImageNet normalisation of torchvision's
weights is applied inside :class:`AlexNet`, so callers never normalise by hand.
"""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models import AlexNet_Weights, alexnet

from ..errors import InvertnetError
from ..files.downloads import download, file_hash, read_state_dict
from ..files.guarded import open_input
from ..files.state import load_checked
from ..initialisation import no_default_init
from ..names import CAFFENET_ONLY_LAYERS, LAYERS, MAX_SEED, TRAINABLE_LAYERS, alias_hint
from .base import Encoder
from .random_weights import random_network

TABLE2_LAYERS: tuple[str, ...] = ("conv5", "fc6", "fc7", "fc8")
"""The layers of the paper's Table 2 (CONV5 to FC8), the default of the benchmarks."""

FEATURE_SHAPES: dict[str, tuple[int, ...]] = {
    "norm1": (96, 27, 27),
    "norm2": (256, 13, 13),
    "conv3": (384, 13, 13),
    "conv4": (384, 13, 13),
    "conv5": (256, 6, 6),
    "fc6": (4096,),
    "fc7": (4096,),
    "fc8": (1000,),
    "prob": (1000,),
}

INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_WEIGHTS = AlexNet_Weights.IMAGENET1K_V1
IMAGENET_MEAN_255 = tuple(255.0 * value for value in IMAGENET_MEAN)
"""The ImageNet mean in 0-255 units: what a generator for this AlexNet adds to its output."""

# Where each tap is taken, as (module, index within it): the tap is that module's output.
_TAPS = {
    "conv5": ("features", 12),  # MaxPool2d after conv5's ReLU: pool5
    "fc6": ("classifier", 2),  # ReLU after fc6: relu6
    "fc7": ("classifier", 5),  # ReLU after fc7: relu7
    "fc8": ("classifier", 6),  # the last Linear: logits
    "prob": ("classifier", 6),  # their softmax (applied in forward)
}


def check_layer(layer: str) -> str:
    """Return ``layer`` if it is one of :data:`LAYERS`, else raise a helpful error."""
    if layer not in LAYERS:
        raise InvertnetError(f"unknown layer {layer!r}{alias_hint(layer)}: choose one of {', '.join(LAYERS)}")
    return layer


def check_trainable_layer(layer: str) -> str:
    """Return ``layer`` if invertnet can train a generator for it (:data:`TRAINABLE_LAYERS`), else say why not."""
    if check_layer(layer) not in TRAINABLE_LAYERS:
        raise InvertnetError(
            f"invertnet trains generators for {', '.join(TRAINABLE_LAYERS)} (the paper's Table 1 architecture); "
            f"for {layer}, use the authors' generator: --weights deepsim:{layer} (with CaffeNet)"
        )
    return layer


def feature_size(layer: str) -> int:
    """Number of values in one feature vector of ``layer``."""
    return int(torch.Size(FEATURE_SHAPES[check_layer(layer)]).numel())


class AlexNet(Encoder):
    """torchvision's AlexNet, frozen in eval mode, that returns the activations of one or more layers.

    ``identity`` names the weights (``imagenet``, ``random:SEED`` or ``file:SHA256``) so a
    checkpoint can record which network it was trained against.
    """

    input_size = INPUT_SIZE
    generator_mean = IMAGENET_MEAN_255
    family = "alexnet"
    layers = TRAINABLE_LAYERS
    comparator_layer = "conv5"

    def __init__(self, net: nn.Module, identity: str) -> None:
        super().__init__()
        self.features = net.features
        self.classifier = net.classifier
        self.identity = identity
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def up_to(self, layer: str) -> AlexNet:
        """A trainable copy holding only the layers that compute ``layer`` (the VAE's encoder: every parameter gets a gradient)."""
        copy = deepcopy(self)
        copy.classifier = copy.classifier[: _TAPS[check_layer(layer)][1] + 1] if layer != "conv5" else nn.Sequential()
        return copy.requires_grad_(True)

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        return {layer: FEATURE_SHAPES[layer] for layer in self.layers}

    def check_layer(self, layer: str) -> str:
        """As every encoder's, with a pointer to CaffeNet for the layers only it has."""
        if layer in CAFFENET_ONLY_LAYERS:
            others = ", ".join(CAFFENET_ONLY_LAYERS)
            raise InvertnetError(f"torchvision's AlexNet has no {layer} tap ({others} are CaffeNet's): pass --encoder caffenet")
        return super().check_layer(layer)

    def forward(self, images: torch.Tensor, layers: str | tuple[str, ...] = "fc8") -> torch.Tensor | dict[str, torch.Tensor]:
        """Features of ``images`` (N, 3, 224, 224, RGB in [0, 1]).

        With one layer name, returns that tensor; with a tuple, a dict. The network is run
        only as far as the deepest requested layer.
        """
        wanted = (layers,) if isinstance(layers, str) else tuple(layers)
        for name in wanted:
            self.check_layer(name)
        self.check_images(images)
        deepest = max(TRAINABLE_LAYERS.index(name) for name in wanted)
        out: dict[str, torch.Tensor] = {}
        x = (images - self.mean) / self.std
        for index, module in enumerate(self.features):
            x = module(x)
            if index == _TAPS["conv5"][1] and "conv5" in wanted:
                out["conv5"] = x
        if deepest > 0:
            x = torch.flatten(x, 1)  # torchvision's AdaptiveAvgPool2d((6, 6)) is the identity at 224x224
            for index, module in enumerate(self.classifier):
                x = module(x)
                for name in wanted:
                    if name != "conv5" and _TAPS[name][1] == index:
                        out[name] = torch.softmax(x, 1) if name == "prob" else x
                if index >= _TAPS[TRAINABLE_LAYERS[deepest]][1]:
                    break
        return out[wanted[0]] if isinstance(layers, str) else out


def hub_checkpoint_path(url: str = IMAGENET_WEIGHTS.url) -> Path:
    """Where torchvision's weights API caches the file at ``url`` (the ImageNet AlexNet by default; follows TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


MAX_WEIGHTS_BYTES = 1 << 30
"""An AlexNet or CaffeNet weights file holds 61M float32 values (244 MB); a file over 1 GiB is refused unread."""

IMAGENET_SHA256_PREFIX = "7be5be79"
"""The start of the SHA-256 of torchvision's file, as its name (``alexnet-owt-7be5be79.pth``) records it."""


def hub_state_dict(url: str, hash_prefix: str, what: str, hint: str, *, max_bytes: int = MAX_WEIGHTS_BYTES) -> dict[str, torch.Tensor]:
    """torchvision's pretrained weights at ``url`` from torch.hub's cache, downloaded when missing and allowed.

    Whether downloaded or copied in by hand, the file must have the SHA-256 prefix its name carries
    (``hash_prefix``) and is read with ``weights_only=True``: torch.hub's own loader unpickles the cached
    file without that guard and checks the hash only on download. ``hint`` names the other ways in.
    """
    path = hub_checkpoint_path(url)
    where = f"put {path.name} (from {url}) in {path.parent}/ (the folder follows TORCH_HOME), {hint}"
    if not path.exists():
        try:
            download(url, path, what=what, where="", hash_prefix=hash_prefix)
        except InvertnetError as error:
            raise InvertnetError(f"{error.message}; put this file there by hand (the folder follows TORCH_HOME)",
                                 [f"torchvision: {url}", f"    at {path}", hint]) from None
    if not file_hash(path, what=what).startswith(hash_prefix):
        raise InvertnetError(
            f"{path} is not {what}: its SHA-256 does not start with {hash_prefix} "
            f"as its name promises (a partial download, or a replaced file); delete it and {where}"
        )
    try:
        with open_input(path, what, max_bytes=max_bytes) as handle:
            return torch.load(handle, map_location="cpu", weights_only=True)
    except Exception as error:  # the hash matched, so this is an incompatible torch rather than a bad file
        raise InvertnetError(f"cannot read {path}: {error}") from error


def _imagenet_state_dict() -> dict[str, torch.Tensor]:
    return hub_state_dict(
        IMAGENET_WEIGHTS.url, IMAGENET_SHA256_PREFIX, "torchvision's ImageNet AlexNet weights",
        "or name a copy you have as the encoder (a .pth or .safetensors path), or use random weights: random:SEED",
    )


def _file_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    return read_state_dict(path, "AlexNet weights", max_bytes=MAX_WEIGHTS_BYTES), f"file:{file_hash(path)[:16]}"


def parse_seed(text: str, what: str) -> int:
    """``text`` as a seed from 0 to :data:`MAX_SEED`: ASCII digits only (``str.isdigit`` accepts "²", which ``int`` refuses)."""
    if not re.fullmatch(r"[0-9]{1,19}", text) or int(text) > MAX_SEED:
        raise InvertnetError(f"{what} must be an integer from 0 to {MAX_SEED}")
    return int(text)


@dataclass(frozen=True)
class AlexNetSpec:
    """A parsed ``--encoder`` value."""

    kind: str  # "imagenet" | "file" | "random" | "random-torchvision"
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> AlexNetSpec:
        if text == "imagenet":
            return cls("imagenet")
        for kind in RANDOM_KINDS:
            if text.startswith(f"{kind}:"):
                return cls(kind, str(parse_seed(text.split(":", 1)[1], f"--encoder {text!r}: the seed after '{kind}:'")))
        return cls("file", text)


RANDOM_KINDS = ("random", "random-torchvision")


def variance_preserving_init(net: nn.Module) -> None:
    """He initialisation of every convolution and linear layer: weights N(0, 2 / fan-in), zero biases.

    Each ReLU layer then passes on activations of the scale it receives, as in a trained
    network; PyTorch's default (uniform with a = sqrt(5), variance 1 / (3 fan-in)) divides
    the second moment by about 6 at every layer, and a random AlexNet's pool5 ends up 25
    times smaller than its input, which makes the paper's loss weights meaningless.
    """
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.bias)


def _random_alexnet(kind: str, seed: int) -> nn.Module:
    """torchvision's AlexNet drawn from ``seed`` in a forked RNG: its own initialisation (``random-torchvision``) or He's (``random``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = alexnet(weights=None)
        if kind == "random":
            variance_preserving_init(net)
    return net


def load_alexnet(spec: str = "imagenet", *, device: torch.device | str = "cpu") -> AlexNet:
    """Build the frozen AlexNet named by ``spec`` (``imagenet``, a file path, ``random:SEED`` or ``random-torchvision:SEED``)."""
    parsed = AlexNetSpec.parse(spec)
    if parsed.kind in RANDOM_KINDS:
        identity = f"{parsed.kind}:{int(parsed.value)}"
        net = random_network(f"alexnet:{identity}", lambda: _random_alexnet(parsed.kind, int(parsed.value)), lambda: alexnet(weights=None))
    else:
        with no_default_init():  # every weight comes from the file next
            net = alexnet(weights=None)
        if parsed.kind == "imagenet":
            state, identity, where = _imagenet_state_dict(), "imagenet", str(hub_checkpoint_path())
        else:
            (state, identity), where = _file_state_dict(Path(parsed.value)), parsed.value
        load_checked(net, state, f"the AlexNet weights in {where}", "torchvision's AlexNet")
    return AlexNet(net, identity).to(device)
