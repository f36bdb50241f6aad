"""What every encoder owns, whatever its network: the interface the rest of invertnet asks.

An encoder is a frozen network in eval mode that takes RGB images in [0, 1] at its
``input_size`` and returns the features of named layers: ``encoder(images, "layer4")`` a
tensor, ``encoder(images, ("conv5", "fc6"))`` a dict. It knows

- ``layers``: the layers it can return, in network order (the ones a generator can invert),
  and each one's ``feature_shape`` (without the batch axis);
- ``comparator_layer``: its default comparator for the feature term (eq. 2), a mid-level
  spatial layer (conv5 for AlexNet, as in the paper);
- ``generator_mean``: the RGB mean (0-255) a generator for it adds to its output, so the
  generator predicts a centred image, as the authors' did;
- ``identity``: which weights it has (``imagenet``, ``resnet50:random:0``, ``file:HASH``...), recorded
  in every checkpoint, which refuses to run against another;
- ``family``: the network's name (``alexnet``, ``caffenet``, ``resnet50``...), which the paper's
  reference rows and the random comparator (:func:`invertnet.encoders.random_like`) go by;
- ``logits_layer``: its class scores (``fc8``, ``fc``, ``head``), whose top-1 and top-5 agreement ``eval``
  reports, or None for a network that has none.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvertnetError
from ..names import CAFFENET, alias_hint


class Encoder(nn.Module):
    """The base of every encoder: layer checks, shapes, device, and eval mode kept (dropout and batch norm frozen)."""

    input_size: int
    generator_mean: tuple[float, ...]
    identity: str
    family: str
    layers: tuple[str, ...]
    comparator_layer: str
    logits_layer: str | None = "fc8"

    def feature_shape(self, layer: str) -> tuple[int, ...]:
        """The shape of one image's features at ``layer`` (C, H, W for a map, (D,) for a vector)."""
        return self.feature_shapes()[self.check_layer(layer)]

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every layer's feature shape, in network order."""
        raise NotImplementedError

    def check_layer(self, layer: str) -> str:
        """``layer`` if this encoder has it, else an error that lists every layer it has, with its shape."""
        if layer not in self.layers:
            listing = ", ".join(f"{name} {describe_shape(shape)}" for name, shape in self.feature_shapes().items())
            hint = alias_hint(layer) if self.family in ("alexnet", CAFFENET) else ""
            raise InvertnetError(f"the encoder {self.identity} has no layer {layer!r}{hint}; its layers: {listing}")
        return layer

    def check_images(self, images: torch.Tensor) -> None:
        """Refuse images that are not of this encoder's input size."""
        if images.shape[-2:] != (self.input_size, self.input_size):
            size = self.input_size
            raise InvertnetError(f"{self.family} expects {size}x{size} images, got {tuple(images.shape[-2:])}")

    @property
    def device(self) -> torch.device:
        """Where the encoder's weights are."""
        return next(iter([*self.parameters(), *self.buffers()])).device

    def train(self, mode: bool = True) -> Encoder:
        """Stay in eval mode: dropout off, batch norm's running statistics."""
        return super().train(False)


def describe_shape(shape: tuple[int, ...]) -> str:
    """``256x6x6``, ``4096``: a feature shape as the listings write it."""
    return "x".join(str(size) for size in shape)
