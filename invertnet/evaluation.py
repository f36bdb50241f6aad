"""The Table 2 protocol: normalized Euclidean error in image space and in feature space.

For each test image x (center crop, 8-bit like the PNG it can be saved as) the generator
reconstructs r = G(AlexNet(x)), clamped and quantised to 8 bits too, so the figures can be
recomputed from the saved files. Image error: mean ||r - x|| over N_img, the mean distance
between all pairs of different test inputs. Feature error: mean ||phi(r) - phi(x)|| over
N_feat, the same for the inputs' features, at the inverted layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .alexnet import INPUT_SIZE, feature_size
from .data import Source, eval_batches, eval_count
from .imageio import save_image, to_uint8
from .inversion import Inverter
from .metrics import RowStore, euclidean_per_sample, normalized_error, pairwise_mean_distance

PAPER_TABLE2: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "conv5": {"DeePSiM (AlexNet conv5)": (43, 37), "Dosovitskiy & Brox": (35, None), "Mahendran & Vedaldi": (71, 19)},
    "fc6": {"DeePSiM (AlexNet conv5)": (55, 48), "Dosovitskiy & Brox": (51, None), "Mahendran & Vedaldi": (80, 19), "DeePSiM image loss": (46, 79)},
    "fc7": {"DeePSiM (AlexNet conv5)": (61, 45), "Dosovitskiy & Brox": (56, None), "Mahendran & Vedaldi": (82, 16)},
    "fc8": {"DeePSiM (AlexNet conv5)": (63, 29), "Dosovitskiy & Brox": (58, None), "Mahendran & Vedaldi": (84, 9)},
}
"""Table 2 of the paper (%, image / feature space; CaffeNet, ILSVRC-2012 val)."""


@dataclass
class EvalResult:
    """Table 2 figures (fractions) for one generator on one test set, with per-image distances."""

    layer: str
    n: int
    image_error: float
    feature_error: float
    image_normalizer: float
    feature_normalizer: float
    checkpoint: str
    alexnet: str
    data: str
    names: list[str] = field(default_factory=list)
    image_distances: list[float] = field(default_factory=list)
    feature_distances: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The figures without the per-image lists (what ``--json`` writes)."""
        keys = ("layer", "n", "image_error", "feature_error", "image_normalizer", "feature_normalizer", "checkpoint", "alexnet", "data")
        return {key: getattr(self, key) for key in keys}


def evaluate(
    inverter: Inverter,
    source: Source,
    *,
    limit: int | None = None,
    batch_size: int = 32,
    save_dir: str | Path | None = None,
    data_name: str = "",
    on_batch: Callable[[int], None] | None = None,
) -> EvalResult:
    """Run the Table 2 protocol on the first ``limit`` images of ``source``.

    ``save_dir`` receives ``input/NAME.png`` (the exact crop compared) and ``recon/NAME.png``.
    ``on_batch`` is called with the number of images done, for progress displays.
    """
    n = eval_count(source, limit)
    if n < 2:
        raise ValueError("the normalized error needs at least two test images")
    inputs = RowStore(n, 3 * INPUT_SIZE * INPUT_SIZE, np.uint8)
    input_features = RowStore(n, feature_size(inverter.layer), np.float32)
    names: list[str] = []
    image_distances: list[torch.Tensor] = []
    feature_distances: list[torch.Tensor] = []
    try:
        for batch_names, images in eval_batches(source, limit, batch_size):
            images = images.to(inverter.device)
            features = inverter.features(images)
            recon = to_uint8(inverter.generate(features)).float() / 255.0
            recon_features = inverter.features(recon)
            image_distances.append(euclidean_per_sample(recon * 255.0, images * 255.0).cpu())
            feature_distances.append(euclidean_per_sample(recon_features, features).cpu())
            inputs.append(to_uint8(images))
            input_features.append(features.float())
            names.extend(batch_names)
            if save_dir is not None:
                for name, image, reconstruction in zip(batch_names, images, recon):
                    save_image(image, Path(save_dir) / "input" / f"{name}.png")
                    save_image(reconstruction, Path(save_dir) / "recon" / f"{name}.png")
            if on_batch is not None:
                on_batch(len(names))
        image_normalizer = pairwise_mean_distance(inputs.array, inverter.device)
        feature_normalizer = pairwise_mean_distance(input_features.array, inverter.device)
    finally:
        inputs.close()
        input_features.close()
    image_d, feature_d = torch.cat(image_distances), torch.cat(feature_distances)
    return EvalResult(
        layer=inverter.layer,
        n=n,
        image_error=normalized_error(image_d.numpy(), image_normalizer),
        feature_error=normalized_error(feature_d.numpy(), feature_normalizer),
        image_normalizer=image_normalizer,
        feature_normalizer=feature_normalizer,
        checkpoint=inverter.source,
        alexnet=inverter.alexnet.identity,
        data=data_name,
        names=names,
        image_distances=image_d.tolist(),
        feature_distances=feature_d.tolist(),
    )
