"""A feature tree's layer names and invertnet's: bdpy's ``layer_map`` (``bdpy/dl/torch/models.py``), torch-free.

bdpy names a network's taps after Caffe's layers, each at one module of its torch port: for CaffeNet
(``reference_net``) ``conv1`` ... ``conv5`` are the convolutions' outputs *before* their ReLU,
``relu1`` ... ``relu5`` after it (before pooling), ``fc6``/``fc7`` before their ReLU and
``relu6``/``relu7`` after, ``fc8`` the scores; the cookbook's trees add Caffe's blob ``pool5``
(the pool5 generator's input) and may carry ``norm1``/``norm2``. invertnet's CaffeNet taps are the
blobs the authors' generators read (the paper's): its ``fc6``/``fc7`` are *after* the ReLU
(bdpy's ``relu6``/``relu7``), its ``conv5`` is ``pool5``, its ``conv3``/``conv4`` are rectified
(``relu3``/``relu4``). VGG-19 (``vgg19_caffe``) uses bdpy's names as they are.

In the brain-decoding workflow ``--layer`` and ``--match`` take the tree's names; a generator is
chosen by :func:`generator_layer`, an encoder's taps by the encoder (``vgg19_caffe`` has bdpy's names;
CaffeNet computes every name of this table, :mod:`invertnet.encoders.tree_taps`).
"""

from __future__ import annotations

from .errors import InvertnetError

CAFFENET_TREE_LAYERS = (
    "conv1", "relu1", "norm1", "conv2", "relu2", "norm2", "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5",
    "fc6", "relu6", "fc7", "relu7", "fc8",
)
"""CaffeNet's layers in a tree, in the network's order: bdpy's ``reference_net`` names and Caffe's blobs ``norm1``, ``norm2``, ``pool5``."""

CAFFENET_GENERATOR_LAYER = {"norm1": "norm1", "norm2": "norm2", "relu3": "conv3", "relu4": "conv4", "pool5": "conv5", "relu6": "fc6", "relu7": "fc7", "fc8": "fc8"}
"""A tree's layer -> the invertnet CaffeNet layer (the authors' generator) that is the same blob."""

BEFORE_RELU = {"conv3": "conv3", "conv4": "conv4", "fc6": "fc6", "fc7": "fc7"}
"""A tree's layers before a ReLU whose generator inverts the same layer after it: used, with a warning if values are negative."""

AFTER_RELU = {"conv3": "relu3", "conv4": "relu4", "fc6": "relu6", "fc7": "relu7"}
"""The tree's name of the layer after each of :data:`BEFORE_RELU`'s ReLUs."""

VGG19_TREE_LAYERS = (
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4",
    "fc6", "relu6", "fc7", "relu7", "fc8",
)
"""bdpy's ``layer_map('vgg19')``: each convolution before its ReLU, fc6/fc7 before and after theirs."""


def generator_layer(tree_layer: str) -> tuple[str, bool]:
    """The authors'/invertnet's CaffeNet generator layer for a tree's ``tree_layer``, and whether the tree's values come before the ReLU
    that generator's layer is after (then negative values are a mismatch worth a warning)."""
    if tree_layer in CAFFENET_GENERATOR_LAYER:
        return CAFFENET_GENERATOR_LAYER[tree_layer], False
    if tree_layer in BEFORE_RELU:
        return BEFORE_RELU[tree_layer], True
    raise InvertnetError(
        f"no generator inverts a tree's {tree_layer!r}: generators exist for {', '.join(CAFFENET_GENERATOR_LAYER)} "
        f"(bdpy's names; relu7 is invertnet's fc7) and, before their ReLU, {', '.join(BEFORE_RELU)}"
    )


RECTIFIED_GENERATOR_LAYERS = ("conv3", "conv4", "conv5", "fc6", "fc7")
"""invertnet's CaffeNet layers that are after a ReLU (pool5 too): their generators never saw a negative value."""
