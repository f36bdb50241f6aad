"""The sample grids a run writes as it trains: fixed images, their reconstructions, and a VAE's draws from its prior."""

from __future__ import annotations

import torch

from ..data.captions import labelled_rows
from ..data.datasets import BrokenImage, Source, eval_crop, open_source
from ..errors import InvertnetError
from ..models.kinds import INVERTER, VAE_KIND, Geometry

SAMPLE_COUNT = 8
"""Images in a grid's row."""


def fixed_images(data: str, source: Source, geometry: Geometry, crops: str) -> torch.Tensor:
    """The first :data:`SAMPLE_COUNT` readable images of the data's val split (else of ``source``), centre-cropped as training sees them."""
    try:
        source = open_source(data, "val")
    except InvertnetError:
        pass
    images: list[torch.Tensor] = []
    for index in range(min(len(source), 10 * SAMPLE_COUNT)):
        try:
            images.append(eval_crop(source.load(index), geometry.size, geometry.resize, crops))
        except BrokenImage:
            continue
        if len(images) == SAMPLE_COUNT:
            break
    if not images:
        raise InvertnetError(f"none of the first {10 * SAMPLE_COUNT} images of {data} can be read")
    return torch.stack(images)


@torch.no_grad()
def grid_of(
    model: str, layer: str, generator: torch.nn.Module, encoder: torch.nn.Module, inputs: torch.Tensor, seed: int, title: str = "",
) -> torch.Tensor:
    """A labelled grid: ``inputs`` in the first row, their reconstructions in the second; a VAE adds a row of samples from the prior."""
    generator.eval()
    if model == INVERTER:
        rows = [generator(encoder(inputs, layer))]
    else:
        rows = [generator.decode(generator.encode(inputs))[..., : inputs.shape[-2], : inputs.shape[-1]]]
    if model == VAE_KIND:
        rows.append(generator.sample(len(inputs), torch.Generator().manual_seed(seed)))
    generator.train()
    labels = ["input", f"reconstruction from {layer}" if model == INVERTER else f"reconstruction by the {model}", "samples from the prior"]
    images = [inputs, *((row / 255.0).clamp(0, 1) for row in rows)]
    return labelled_rows(list(zip(labels, (batch.float().cpu() for batch in images))), title=title)
