"""The Table 2 protocol, for one or many reconstruction methods, with extra metrics.

For each test image x (center crop, 8-bit like the PNG it can be saved as) each method
reconstructs r from the encoder's features of x; r is clamped and quantised to 8 bits too, so
the figures can be recomputed from saved files. Image error: mean ||r - x|| over N_img, the
mean distance between all pairs of different test inputs. Feature error: mean
||phi(r) - phi(x)|| over N_feat, the same for the inputs' features at the inverted layer.
Beyond Table 2: PSNR, SSIM, MS-SSIM, LPIPS (when its weights can be had) and how often
the encoder's top-1 class on r equals its top-1 on x (and is within r's top 5).

A VAE or autoencoder row reconstructs each image from its own code (``Method.encode``); its
feature error is measured at fc6 (VAE) or conv5 (autoencoder) of the encoder.

Each encoder sees its own crops (224 for torchvision's AlexNet, 227 for CaffeNet), so
methods are evaluated against one encoder at a time; :func:`evaluate_methods` takes one.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import Source, crop_style, eval_batches, eval_count
from ..data.imageio import save_image, to_uint8
from ..encoders import Encoder
from ..encoders.alexnet import INPUT_SIZE
from ..inversion import Inverter
from ..models.kinds import INVERTER, evaluation_layer
from ..version import versioned
from .lpips import LPIPS
from .metrics import RowStore, euclidean_per_sample, normalized_error, pairwise_mean_distance
from .optimize import MahendranVedaldi, OptimizeConfig
from .quality import class_agreement, ms_ssim, psnr, ssim
from .spectrum import periodicity, power_spectra, sharpness

PAPER_TABLE2: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "conv5": {"DeePSiM (AlexNet conv5)": (43, 37), "Dosovitskiy & Brox": (35, None), "Mahendran & Vedaldi": (71, 19)},
    "fc6": {
        "DeePSiM (AlexNet conv5)": (55, 48), "Dosovitskiy & Brox": (51, None), "Mahendran & Vedaldi": (80, 19),
        "DeePSiM, image loss (--loss image)": (46, 79), "DeePSiM (VideoNet conv5)": (51, 57),
    },
    "fc7": {"DeePSiM (AlexNet conv5)": (61, 45), "Dosovitskiy & Brox": (56, None), "Mahendran & Vedaldi": (82, 16)},
    "fc8": {"DeePSiM (AlexNet conv5)": (63, 29), "Dosovitskiy & Brox": (58, None), "Mahendran & Vedaldi": (84, 9)},
}
"""Table 2 of the paper (%, image / feature space; CaffeNet, ILSVRC-2012 val).

"Dosovitskiy & Brox" is their CVPR 2016 paper's own generators (ref. [26]); the paper's "Our image
loss" row is Table 1's generator trained with the image loss alone, what ``--loss image`` trains;
"VideoNet conv5" is the full loss with the conv5 comparator of Wang & Gupta's network trained on
videos without labels, which invertnet does not have.
"""
PAPER_COLUMNS = {"conv5": "conv5", "fc6": "fc6", "fc7": "fc7", "fc8": "fc8", "prob": "fc8"}
"""Which of Table 2's columns a layer's rows come from: the paper's FC8 is shown for ``fc8`` and ``prob`` alike
(Table 2 has no column for norm1 to conv4)."""

PER_IMAGE = ("image_distance", "feature_distance", "psnr", "ssim", "ms_ssim", "lpips", "top1", "top5", "sharpness")


@dataclass
class Method:
    """One way of reconstructing images from one layer's features: a row of the table."""

    name: str
    layer: str
    reconstruct: Callable[[torch.Tensor], torch.Tensor]  # features -> images (N, 3, S, S) in [0, 1], S the encoder's size
    source: str
    comparator: str = "-"
    encode: Callable[[torch.Tensor], torch.Tensor] | None = None
    """Images -> the code ``reconstruct`` takes, for models with their own encoder; None: the encoder's ``layer`` features."""


def generator_method(inverter: Inverter, clamp: bool = True) -> Method:
    """A trained generator (or VAE, or autoencoder), named after its loss preset and file; ``clamp=False``: its raw output."""
    loss = inverter.config.get("loss_config", {}) if isinstance(inverter.config.get("loss_config"), dict) else {}
    preset = loss.get("preset", "generator")
    comparator = str(loss.get("comparator", "-"))
    generate = functools.partial(inverter.generate, clamp=clamp)
    if inverter.model == INVERTER:
        authors = inverter.config.get("authors_model")  # the authors' generators are named as --weights names them
        shown = f"deepsim:{authors}" if isinstance(authors, str) else inverter.source
        return Method(f"{preset}: {shown}", inverter.layer, generate, inverter.source, comparator)
    layer = evaluation_layer(inverter.model, inverter.layer)
    return Method(f"{inverter.model} {preset}: {inverter.source}", layer, generate, inverter.source, comparator, inverter.features)


def optimize_method(encoder: Encoder, layer: str, config: OptimizeConfig | None = None,
                    on_iteration: Callable[[int, int], None] | None = None) -> Method:
    """Mahendran & Vedaldi's optimisation for ``layer``."""
    optimizer = MahendranVedaldi(encoder, layer, config)
    return Method("Mahendran & Vedaldi (optimize)", layer, lambda features: optimizer.reconstruct(features, on_iteration), "optimize")


def mean_image(source: Source, count: int = 1000, batch_size: int = 64, size: int = INPUT_SIZE, crops: str = "torchvision") -> torch.Tensor:
    """The per-pixel mean of the first ``count`` evaluation crops of ``source``, (3, size, size) in [0, 1].

    Over the training images, it is the constant image with the lowest expected squared error
    on test images of the same distribution: the floor any reconstruction must beat to show
    that it uses its input at all.
    """
    total, n = torch.zeros(3, size, size, dtype=torch.float64), 0
    for _, images in eval_batches(source, count, batch_size, size, crop_style(crops)):
        total += images.double().sum(0)
        n += len(images)
    return (total / n).float()


def mean_method(mean: torch.Tensor, layer: str, source: str) -> Method:
    """The mean training image as every reconstruction: the best constant image, a baseline row."""
    return Method("mean training image", layer, lambda features: mean.to(features.device).expand(len(features), -1, -1, -1), source)


@dataclass
class EvalResult:
    """One method's figures on one test set (errors as fractions), with per-image values."""

    method: str
    layer: str
    n: int
    image_error: float
    feature_error: float
    image_normalizer: float
    feature_normalizer: float
    psnr: float
    ssim: float
    ms_ssim: float
    lpips: float | None
    top1_agreement: float | None
    top5_agreement: float | None
    checkpoint: str
    encoder: str
    data: str
    comparator: str = "-"
    crops: str = "torchvision"
    clamped: bool = True
    """Whether the errors were measured on 8-bit reconstructions clipped to [0, 1] (the default) or on the raw output."""
    lpips_unavailable: str = ""
    sharpness: float | None = None
    """The reconstructions' fine detail over their inputs', averaged over the images (1 = as much; :mod:`invertnet.evaluation.spectrum`)."""
    periodicity: dict[str, object] | None = None
    """The strongest pattern the reconstructions have and the inputs do not (:class:`invertnet.evaluation.spectrum.Periodicity`)."""
    names: list[str] = field(default_factory=list)
    per_image: dict[str, list[float]] = field(default_factory=dict)

    @property
    def image_distances(self) -> list[float]:
        return self.per_image["image_distance"]

    @property
    def feature_distances(self) -> list[float]:
        return self.per_image["feature_distance"]

    def summary(self) -> dict[str, object]:
        """The figures without the per-image lists, as ``eval --json`` writes them (docs/outputs.md): units in the key
        names (:data:`OUTPUT_NAMES`), ``null`` for what was not measured."""
        skip = {"names", "per_image"}
        record = {OUTPUT_NAMES.get(k, k): _json_value(v) for k, v in self.__dict__.items() if k not in skip}
        record["lpips_unavailable"] = self.lpips_unavailable or None
        return record


OUTPUT_NAMES = {
    "image_error": "image_error_fraction", "feature_error": "feature_error_fraction", "psnr": "psnr_db", "top1_agreement": "top1_fraction",
    "top5_agreement": "top5_fraction", "sharpness": "sharpness_ratio", "top1": "top1_fraction", "top5": "top5_fraction",
}
"""The names ``eval``'s JSON and CSV give the figures (and per-image values) whose unit the name would not say:
errors and agreements as fractions (1 = a random test image's error; all images agree), PSNR in dB, sharpness as a ratio."""


def eval_record(results: Sequence[EvalResult], settings: dict[str, object]) -> dict[str, object]:
    """What ``eval --json`` writes: the schema, the version of invertnet, the settings, each method's figures under ``results``."""
    return versioned("eval", {"settings": settings, "results": [r.summary() for r in results]})


def _json_value(value: object) -> object:
    """``value`` for JSON: a float that is not a number (not measured) as None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "method"


def evaluate_methods(
    methods: Sequence[Method],
    encoder: Encoder,
    source: Source,
    *,
    limit: int | None = None,
    batch_size: int = 32,
    save_dir: str | Path | None = None,
    thumbnails: tuple[Path, int] | None = None,
    data_name: str = "",
    lpips: LPIPS | None = None,
    lpips_unavailable: str = "",
    on_batch: Callable[[int], None] | None = None,
    crops: str = "torchvision",
    clamp: bool = True,
) -> list[EvalResult]:
    """Run every method on the first ``limit`` images of ``source``; inputs are read once.

    ``crops`` names the inputs' crop style (``caffe``: center crops of 256x256 images). The
    errors and class agreement are measured on the reconstructions as PNGs would hold them
    (8 bits, clipped to [0, 1]), or with ``clamp=False`` on the generators' raw output, as the
    paper's Caffe measured blobs; PSNR, SSIM, MS-SSIM and LPIPS always see the clipped images.

    ``save_dir`` receives ``input/NAME.png`` (the exact crop compared) and ``recon/NAME.png``
    (with several methods, ``recon-METHOD/NAME.png``). ``thumbnails`` = (folder, count) writes
    small copies of the first ``count`` inputs and reconstructions for an HTML report.
    """
    n = eval_count(source, limit)
    if n < 2:
        raise ValueError("the normalized error needs at least two test images")
    device = encoder.device
    layers = sorted({m.layer for m in methods})
    size = encoder.input_size
    inputs = RowStore(n, 3 * size * size, np.uint8)
    stores = {layer: RowStore(n, math.prod(encoder.feature_shape(layer)), np.float32) for layer in layers}
    per_image: list[dict[str, list[torch.Tensor]]] = [{key: [] for key in PER_IMAGE} for _ in methods]
    input_spectra: torch.Tensor | float = 0.0  # the sums of the images' power spectra: their means give the periodicity
    recon_spectra: list[torch.Tensor | float] = [0.0 for _ in methods]
    recon_dirs = ["recon"] if len(methods) == 1 else [f"recon-{i}-{_slug(m.name)}" for i, m in enumerate(methods)]
    names: list[str] = []
    try:
        for batch_names, images in eval_batches(source, limit, batch_size, size, crop_style(crops)):
            images = images.to(device)
            with torch.no_grad():
                features = encoder(images, tuple(dict.fromkeys([*layers, *_logits(encoder)])))
            for layer in layers:
                stores[layer].append(features[layer].float())
            inputs.append(to_uint8(images))
            input_spectra = input_spectra + power_spectra(images).sum(0)
            for index, method in enumerate(methods):
                measures, shown = _measure(method, images, features, encoder, lpips, clamp)
                for key, value in measures.items():
                    per_image[index][key].append(value)
                recon_spectra[index] = recon_spectra[index] + power_spectra(shown).sum(0)
                if save_dir is not None:
                    for name, image, reconstruction in zip(batch_names, images, shown):
                        if index == 0:
                            save_image(image, Path(save_dir) / "input" / f"{name}.png")
                        save_image(reconstruction, Path(save_dir) / recon_dirs[index] / f"{name}.png")
                if thumbnails is not None:
                    _save_thumbnails(thumbnails, index, len(names), batch_names, images, shown)
            names.extend(batch_names)
            if on_batch is not None:
                on_batch(len(names))
        image_normalizer = pairwise_mean_distance(inputs.array, device)
        feature_normalizers = {layer: pairwise_mean_distance(store.array, device) for layer, store in stores.items()}
    finally:
        inputs.close()
        for store in stores.values():
            store.close()
    results = []
    for method, values, spectra in zip(methods, per_image, recon_spectra):
        columns = {key: torch.cat(parts).double().numpy() for key, parts in values.items()}
        pattern = periodicity(torch.as_tensor(spectra) / n, torch.as_tensor(input_spectra) / n, (size, size))
        results.append(
            EvalResult(
                method=method.name, layer=method.layer, n=n,
                image_error=normalized_error(columns["image_distance"], image_normalizer),
                feature_error=normalized_error(columns["feature_distance"], feature_normalizers[method.layer]),
                image_normalizer=image_normalizer, feature_normalizer=feature_normalizers[method.layer],
                psnr=float(columns["psnr"].mean()), ssim=float(columns["ssim"].mean()), ms_ssim=float(columns["ms_ssim"].mean()),
                lpips=None if lpips is None else float(columns["lpips"].mean()),
                top1_agreement=_mean_or_none(columns["top1"]), top5_agreement=_mean_or_none(columns["top5"]),
                sharpness=float(columns["sharpness"].mean()), periodicity=pattern.to_dict(),
                checkpoint=method.source, encoder=encoder.identity, data=data_name, comparator=method.comparator, crops=crops, clamped=clamp,
                lpips_unavailable="" if lpips is not None else (lpips_unavailable or "not requested"), names=list(names),
                per_image={key: column.tolist() for key, column in columns.items()},
            )
        )
    return results


def _measure(
    method: Method, images: torch.Tensor, features: dict[str, torch.Tensor], encoder: Encoder, lpips: LPIPS | None, clamp: bool,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One method on one batch: each per-image measure (on the CPU), and the reconstructions as pictures show them.

    The errors and class agreement see the reconstructions as PNGs would hold them (8 bits, clipped),
    or their raw values with ``clamp=False``; PSNR, SSIM, MS-SSIM and LPIPS always see the clipped images.
    """
    device = images.device
    code = features[method.layer] if method.encode is None else method.encode(images)
    raw = method.reconstruct(code).float().to(device)
    recon = to_uint8(raw).float().div(255.0).to(device) if clamp else raw  # what the errors measure
    shown = recon.clamp(0, 1)  # what the image-quality metrics and the pictures see
    with torch.no_grad():
        recon_features = encoder(recon, tuple(dict.fromkeys([method.layer, *_logits(encoder)])))
        if encoder.logits_layer is not None:
            top1, top5 = (found.float() for found in class_agreement(features[encoder.logits_layer], recon_features[encoder.logits_layer]))
        else:
            top1 = top5 = torch.full((len(images),), math.nan, device=device)
        measures = {
            "image_distance": euclidean_per_sample(recon * 255.0, images * 255.0),
            "feature_distance": euclidean_per_sample(recon_features[method.layer], features[method.layer]),
            "psnr": psnr(shown, images), "ssim": ssim(shown, images), "ms_ssim": ms_ssim(shown, images),
            "lpips": lpips(shown, images) if lpips is not None else torch.full((len(images),), math.nan),
            "top1": top1, "top5": top5, "sharpness": sharpness(shown, images),
        }
    return {key: value.cpu() for key, value in measures.items()}, shown


def _mean_or_none(column: np.ndarray) -> float | None:
    """The mean of a per-image column, or None where it was not measured (NaN: no class scores)."""
    return None if np.isnan(column).any() else float(column.mean())


def _logits(encoder: Encoder) -> list[str]:
    """The encoder's class-score layer, as a list of none or one."""
    return [] if encoder.logits_layer is None else [encoder.logits_layer]


THUMBNAIL_SIZE = 224
"""The HTML report's thumbnails: the encoder's input size (CaffeNet's 227 shrunk a little)."""


def _save_thumbnails(target: tuple[Path, int], method: int, done: int, names: list[str], images: torch.Tensor, recon: torch.Tensor) -> None:
    folder, count = target
    for offset, (name, image, reconstruction) in enumerate(zip(names, images, recon)):
        if done + offset >= count:
            return
        small = lambda t: F.interpolate(t[None].float(), size=(THUMBNAIL_SIZE, THUMBNAIL_SIZE), mode="area")[0]  # noqa: E731
        if method == 0:
            save_image(small(image), folder / "input" / f"{name}.png")
        save_image(small(reconstruction), folder / f"method{method}" / f"{name}.png")


def evaluate(
    inverter: Inverter,
    source: Source,
    *,
    limit: int | None = None,
    batch_size: int = 32,
    save_dir: str | Path | None = None,
    data_name: str = "",
    lpips: LPIPS | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> EvalResult:
    """Table 2 for one trained generator (see :func:`evaluate_methods`)."""
    return evaluate_methods(
        [generator_method(inverter)], inverter.encoder, source, limit=limit, batch_size=batch_size, save_dir=save_dir,
        data_name=data_name, lpips=lpips, lpips_unavailable="not requested", on_batch=on_batch,
    )[0]
