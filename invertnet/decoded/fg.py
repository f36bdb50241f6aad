"""FG ("feature to generator") reconstruction of a feature tree: each image's features straight through the generator.

The cookbook's ``reconstruction/recon_fg_image.py``: read an image's features at the generator's layer,
fill NaN and scale them (:mod:`invertnet.decoded.inputs`), run the generator, and keep its whole
output (256x256 for the paper's generators, no crop) with the mean added and the colours in RGB
(the script's ``img_deprocess``), clipped to 0-255 for the PNG. Outputs go to
``OUT/SUBJECT/ROI/LABEL.png`` (``OUT/LABEL.png`` for true features); a label already written is
skipped, so a stopped run resumes where it was, and a bad file stops the run naming it, with what was
written kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.imageio import save_image
from ..treenames import AFTER_RELU
from .generators import TreeGenerator
from .inputs import Image, Scaler


@dataclass
class Outcome:
    """What a run over a tree did: the images written, those skipped (already there), and warnings by subject/ROI."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def negative_warning(generator: TreeGenerator, tree_layer: str, image: Image, features: torch.Tensor) -> str | None:
    """A warning when a generator of a rectified layer gets negative values (a tree's layer before the ReLU, or decoded noise)."""
    if not generator.rectified:
        return None
    negative = float((features < 0).float().mean())
    if negative == 0:
        return None
    hint = f"; the tree's {tree_layer} is before the ReLU (bdpy's names): use --layer {AFTER_RELU[tree_layer]}" if tree_layer in AFTER_RELU else ""
    return (
        f"{image.group}: {negative:.0%} of the {tree_layer} values of {image.label} are negative, but the {generator.layer} generator "
        f"inverts a rectified layer and never saw one{hint}"
    )


def reconstruct_fg(
    images: list[Image], tree_layer: str, generator: TreeGenerator, scaler: Scaler, out: Path,
    on_image: Callable[[int], None] | None = None,
) -> Outcome:
    """Reconstruct every image not yet written under ``out`` (see the module); ``on_image(done)`` after each, for a progress bar."""
    outcome = Outcome()
    warned: set[str] = set()
    for done, image in enumerate(images, 1):
        target = image.output(out)
        if target.exists():
            outcome.skipped.append(target)
        else:
            features = torch.from_numpy(scaler.features(image, tree_layer, generator.feature_shape))
            warning = negative_warning(generator, tree_layer, image, features)
            if warning and image.group not in warned:
                warned.add(image.group)
                outcome.warnings.append(warning)
            picture = generator.full(features.unsqueeze(0))[0].clamp(0, 255) / 255.0
            target.parent.mkdir(parents=True, exist_ok=True)
            outcome.written.append(save_image(picture, target))
        if on_image is not None:
            on_image(done)
    return outcome
