"""The discriminator: real image or generated, given the features it should match (section 3.1).

Image path: five convolutions with occasional stride (7x7/4 -> 32, 5x5/1 -> 64, 3x3/2 -> 128,
3x3/1 -> 256, 3x3/2 -> 256, no padding, as in the authors' release), global average
pooling. Feature path (inversion only, arXiv v1): fully connected 1024 -> 512. Both are
concatenated, then dropout 0.5, fc 512, dropout 0.5, fc 2: two logits, index 1 = "real".
ReLU as in the release. Images enter in the generator's 0-255 units and are normalised here.

The VAE and the autoencoder have no features to condition on: their discriminator is the
image path alone (``layer=None``). arXiv v1 says the first stride was raised for ImageNet's
large images; the autoencoder's 64x64 crops take ``first_stride=2``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..encoders.alexnet import FEATURE_SHAPES, IMAGENET_MEAN, IMAGENET_STD

REAL, FAKE = 1, 0
CONDITION_VALUES = 256 * 6 * 6
"""The most feature values the feature path's first fully connected layer takes: AlexNet pool5's 9,216, the paper's largest."""


def condition_side(feature_shape: tuple[int, ...]) -> int | None:
    """The side a feature map is average-pooled to before the feature path (None: taken whole, as the paper's layers are).

    A map of more than :data:`CONDITION_VALUES` values (ResNet's layer4: 100,352) would give the
    first fully connected layer a hundred million weights; pooled to the largest side of at most
    6 that fits, it keeps the layout at pool5's resolution or coarser.
    """
    if len(feature_shape) != 3 or math.prod(feature_shape) <= CONDITION_VALUES:
        return None
    channels, side = feature_shape[0], min(feature_shape[1], 6)
    while side > 1 and channels * side * side > CONDITION_VALUES:
        side -= 1
    return side


class Discriminator(nn.Module):
    """D(image, features) -> logits (N, 2); D(image) when built without a layer."""

    def __init__(self, layer: str | None, first_stride: int = 4, feature_shape: tuple[int, ...] | None = None) -> None:
        """``layer``: the features D is conditioned on (None: unconditional); ``first_stride``: of the 7x7 convolution;
        ``feature_shape``: the layer's (torchvision's AlexNet's if not given)."""
        super().__init__()
        if layer is not None and feature_shape is None:
            feature_shape = FEATURE_SHAPES[layer]
        self.layer = layer
        self.image_path = nn.Sequential(
            nn.Conv2d(3, 32, 7, stride=first_stride), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 5, stride=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 128, 3, stride=2), nn.ReLU(inplace=True),
            nn.Conv2d(128, 256, 3, stride=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, stride=2), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        side = None if feature_shape is None else condition_side(feature_shape)
        self.feature_pool = nn.Identity() if side is None else nn.AdaptiveAvgPool2d(side)
        values = 0 if feature_shape is None else math.prod(feature_shape) if side is None else feature_shape[0] * side * side
        self.feature_path = None if layer is None else nn.Sequential(
            nn.Flatten(),
            nn.Linear(values, 1024), nn.ReLU(inplace=True),
            nn.Linear(1024, 512), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(256 + (512 if layer is not None else 0), 512), nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(512, 2),
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0, persistent=False)

    def forward(self, images: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for ``images`` (N, 3, H, W in 0-255 units), conditioned on ``features`` if D has a feature path."""
        if (features is None) != (self.feature_path is None):
            raise ValueError(f"this discriminator is {'un' if self.feature_path is None else ''}conditional: "
                             f"{'pass no features' if self.feature_path is None else f'pass the {self.layer} features'}")
        pooled = self.image_path((images - self.mean) / self.std)
        if self.feature_path is None:
            return self.classifier(pooled)
        return self.classifier(torch.cat([pooled, self.feature_path(self.feature_pool(features))], dim=1))
