"""The per-channel SD of true features that ``--feature-scaling`` scales decoded features to (``invertnet features --stats``).

The cookbook reads it from ``estimated_cnn_feat_std_<network>_..._chwise_dof1.mat``: one key per layer
(the tree's names), each channel's SD with ddof 1. Here each channel's values are pooled over every
image and, for a map, every position (a fully connected layer's channel is one unit, its SD over
images), accumulated batch by batch in float64 with Chan et al.'s pairwise update, so any number of
images fits in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InvertnetError


@dataclass
class ChannelMoments:
    """Count, mean and sum of squared deviations per channel, merged batch by batch."""

    count: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None

    def add(self, features: torch.Tensor) -> None:
        """Add a batch of features (N, C, ...) or (N, C)."""
        values = features.detach().double().cpu().transpose(0, 1).reshape(features.shape[1], -1).numpy()  # (C, N * positions)
        n = values.shape[1]
        mean = values.mean(axis=1)
        m2 = ((values - mean[:, None]) ** 2).sum(axis=1)
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta**2 * self.count * n / total
        self.count = total

    def std(self) -> np.ndarray:
        """Each channel's SD with ddof 1."""
        if self.m2 is None or self.count < 2:
            raise InvertnetError("an SD with ddof 1 needs at least two values per channel: give at least two images")
        return np.sqrt(self.m2 / (self.count - 1))


@dataclass
class FeatureStatistics:
    """Per-channel moments of several layers."""

    layers: tuple[str, ...]
    moments: dict[str, ChannelMoments] = field(default_factory=dict)

    def add(self, features: dict[str, torch.Tensor]) -> None:
        for layer in self.layers:
            self.moments.setdefault(layer, ChannelMoments()).add(features[layer])

    def std(self) -> dict[str, np.ndarray]:
        """Each layer's per-channel SD, shaped (1, C) as MATLAB keeps a row."""
        return {layer: self.moments[layer].std()[np.newaxis] for layer in self.layers}
