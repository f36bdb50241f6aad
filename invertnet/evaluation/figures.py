"""The paper's comparison figures as labelled image grids.

Fig. 3: the inputs, then their reconstructions from each layer (a row per layer).
Fig. 4: the inputs, then their reconstructions by each method (a row per method).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..data.captions import labelled_rows
from ..inversion import Inverter
from .protocol import Method


def layers_figure(inputs: torch.Tensor, inverters: Sequence[Inverter]) -> torch.Tensor:
    """Fig. 3: inputs, then a row per layer, in the encoder's order (conv5, fc6, fc7, fc8 for AlexNet)."""

    def depth(inverter: Inverter) -> int:
        layers = inverter.encoder.layers if inverter.encoder is not None else ()
        return layers.index(inverter.layer) if inverter.layer in layers else len(layers)

    ordered = sorted(inverters, key=depth)
    rows = [("input", inputs.cpu())] + [(f"{inverter.layer}: {inverter.label}", inverter.invert(inputs).cpu()) for inverter in ordered]
    encoder = ordered[0].encoder.identity if ordered and ordered[0].encoder is not None else "its encoder"
    return labelled_rows(rows, title=f"reconstructions from each layer of {encoder}, a row per generator")


def methods_figure(inputs: torch.Tensor, methods: Sequence[Method], encoder_features: torch.nn.Module) -> torch.Tensor:
    """Fig. 4: inputs, then a row per method (each reconstructs from its layer's features, or a VAE's or autoencoder's own code)."""
    rows = [("input", inputs.cpu())]
    for method in methods:
        with torch.no_grad():
            features = encoder_features(inputs, method.layer) if method.encode is None else method.encode(inputs)
        rows.append((f"{method.name} ({method.layer})", method.reconstruct(features).cpu()))
    return labelled_rows(rows)
