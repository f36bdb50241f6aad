"""An encoder's features under a bdpy feature tree's layer names (:mod:`invertnet.treenames`).

CaffeNet's taps in invertnet are the authors' generators' blobs; a tree names bdpy's
``reference_net`` taps, some before a ReLU invertnet never taps (``conv1``, ``fc7``...). Here
every one of them is computed from the same network: ``convN`` and ``fc6``/``fc7`` before the
ReLU, ``reluN`` after it, ``norm1``/``norm2``/``pool5`` Caffe's blobs, ``fc8`` the scores.
``vgg19_caffe`` has bdpy's names already; any other encoder is asked by its own names.
"""

from __future__ import annotations

import torch

from ..errors import InvertnetError
from ..treenames import CAFFENET_TREE_LAYERS
from .base import Encoder
from .caffenet import CaffeNet


def tree_layers(encoder: Encoder) -> tuple[str, ...]:
    """The layer names a tree of ``encoder``'s features uses, in network order."""
    return CAFFENET_TREE_LAYERS if isinstance(encoder, CaffeNet) else tuple(encoder.layers)


def check_tree_layer(encoder: Encoder, layer: str) -> str:
    """``layer`` if ``encoder`` computes it under a tree's name, else one error listing those it does."""
    if layer not in tree_layers(encoder):
        raise InvertnetError(f"the encoder {encoder.identity} has no layer {layer!r} in a feature tree's names; it has {', '.join(tree_layers(encoder))}")
    return layer


def tree_features(encoder: Encoder, images: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """``encoder``'s features of ``images`` (RGB in [0, 1], its input size) at a tree's ``layers``."""
    for layer in layers:
        check_tree_layer(encoder, layer)
    if not isinstance(encoder, CaffeNet):
        return dict(encoder(images, tuple(layers)))
    return _caffenet(encoder, images, layers)


def _caffenet(net: CaffeNet, images: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
    deepest = max(CAFFENET_TREE_LAYERS.index(layer) for layer in layers)
    relu, out = torch.relu, {}
    steps = (
        ("conv1", lambda o: net.conv1(net.preprocess(images))),
        ("relu1", lambda o: relu(o["conv1"])),
        ("norm1", lambda o: net.norm(net.pool(o["relu1"]))),
        ("conv2", lambda o: net.conv2(o["norm1"])),
        ("relu2", lambda o: relu(o["conv2"])),
        ("norm2", lambda o: net.norm(net.pool(o["relu2"]))),
        ("conv3", lambda o: net.conv3(o["norm2"])),
        ("relu3", lambda o: relu(o["conv3"])),
        ("conv4", lambda o: net.conv4(o["relu3"])),
        ("relu4", lambda o: relu(o["conv4"])),
        ("conv5", lambda o: net.conv5(o["relu4"])),
        ("relu5", lambda o: relu(o["conv5"])),
        ("pool5", lambda o: net.pool(o["relu5"])),
        ("fc6", lambda o: net.fc6(o["pool5"].flatten(1))),
        ("relu6", lambda o: relu(o["fc6"])),
        ("fc7", lambda o: net.fc7(o["relu6"])),
        ("relu7", lambda o: relu(o["fc7"])),
        ("fc8", lambda o: net.fc8(o["relu7"])),
    )
    for name, step in steps[: deepest + 1]:
        out[name] = step(out)
    return {layer: out[layer] for layer in layers}
