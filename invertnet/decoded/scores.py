"""The KamitaniLab's reconstruction scores: pixel pattern correlation and pairwise identification, per subject and ROI.

As the cookbook's ``reconstruction/recon_image_eval.py`` computes them with bdpy's
``bdpy.evals.metrics``: each reconstruction's pixels (8-bit RGB, flattened) and its true image's
(resized to the reconstruction's size with Pillow's default bicubic filter), then

- pattern correlation: Pearson's r between an image's reconstruction and its true image
  (``pattern_correlation``);
- pairwise identification (correlation): for each reconstruction, the fraction of the other true images
  that correlate less with it than its own true image does (``pairwise_identification``; chance 0.5).

Columns holding NaN are dropped first, as bdpy does. The same two are computed on an encoder's features of
the two images (``--encoder``, ``--layer``), and DeePSiM's normalised image error (Table 2's: the
mean distance to the true image over the mean distance between two true images) on the same pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvertnetError
from ..files.features import PLAIN_NAME

if TYPE_CHECKING:
    from ..encoders import Encoder

COOKBOOK_PREFIXES = ("recon_image_normalized-", "recon_image-")
"""The cookbook names its outputs ``recon_image-LABEL``: the label is what follows."""
MAX_IMAGES = 100_000


def _rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
    b = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
    if a.shape != b.shape:
        raise InvertnetError(f"reconstructions {a.shape} and true images {b.shape} differ in shape")
    keep = ~(np.isnan(a).any(axis=0) | np.isnan(b).any(axis=0))  # bdpy drops a column NaN in either
    return a[:, keep], b[:, keep]


def _standardised(rows: np.ndarray) -> np.ndarray:
    centred = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return centred / norms


def pattern_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r between row i of ``x`` and row i of ``y`` (bdpy's ``pattern_correlation``); NaN for a constant row."""
    a, b = _rows(x, y)
    return np.einsum("ij,ij->i", _standardised(a), _standardised(b))


def correlation_matrix(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """r[i, j] between reconstruction i and true image j (1 - scipy's correlation distance)."""
    a, b = _rows(pred, true)
    return _standardised(a) @ _standardised(b).T


def pairwise_identification(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """For each i, the fraction of j != i with r[i, j] < r[i, i] (bdpy's ``pairwise_identification``, metric correlation).

    A NaN correlation (a constant image) is left out of its row's comparisons, as bdpy's ``remove_nan_dist`` does.
    """
    if pred.shape[0] < 2:
        raise InvertnetError("pairwise identification needs at least two images")
    r = correlation_matrix(pred, true)
    accuracy = np.empty(r.shape[0])
    for i, row in enumerate(r):
        difference = row - row[i]
        difference = difference[~np.isnan(difference)]
        accuracy[i] = np.sum(difference < 0) / (len(difference) - 1) if len(difference) > 1 else np.nan
    return accuracy


def image_error(pred: np.ndarray, true: np.ndarray) -> float:
    """DeePSiM's normalised image error (Table 2): mean ||x_hat_i - x_i|| over the mean ||x_i - x_j|| of true images, a fraction."""
    from ..evaluation.metrics import pairwise_mean_distance

    a, b = (np.asarray(v, dtype=np.float64).reshape(v.shape[0], -1) for v in (pred, true))
    return float(np.linalg.norm(a - b, axis=1).mean() / pairwise_mean_distance(b))


def label_of(stem: str) -> str:
    """An output's label: its stem, without the cookbook's ``recon_image-`` prefix."""
    for prefix in COOKBOOK_PREFIXES:
        if stem.startswith(prefix):
            return stem[len(prefix) :]
    return stem


def _images(folder: Path) -> dict[str, Path]:
    from ..data.imageio import IMAGE_SUFFIXES

    found: dict[str, Path] = {}
    with os.scandir(folder) as scan:
        for entry in scan:
            if entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file() and not entry.name.startswith("."):
                label = label_of(Path(entry.name).stem)
                if label in found:
                    raise InvertnetError(f"{folder}: two images for {label!r} ({found[label].name}, {entry.name})")
                found[label] = Path(entry.path)
                if len(found) > MAX_IMAGES:
                    raise InvertnetError(f"{folder} holds more than {MAX_IMAGES:,} images")
    return found


@dataclass(frozen=True)
class Group:
    """A folder of reconstructions: its subject and ROI (``None`` for a true-feature tree's) and its images by label."""

    subject: str | None
    roi: str | None
    images: dict[str, Path]


def find_groups(folder: str | os.PathLike[str]) -> list[Group]:
    """The reconstructions under ``folder``: its images (true features) or ``SUBJECT/ROI/`` folders of them (decoded)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvertnetError(f"--reconstructions {folder}: no such folder")
    own = _images(folder)
    subjects = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir() and PLAIN_NAME.fullmatch(entry.name))
    nested = [Group(subject, roi.name, _images(Path(roi.path))) for subject in subjects
              for roi in sorted(os.scandir(folder / subject), key=lambda e: e.name) if roi.is_dir() and PLAIN_NAME.fullmatch(roi.name)]
    nested = [group for group in nested if group.images]
    if own and nested:
        raise InvertnetError(f"{folder} holds images and SUBJECT/ROI folders of them: point --reconstructions at one layout")
    if own:
        return [Group(None, None, own)]
    if not nested:
        raise InvertnetError(f"no reconstructions in {folder} (LABEL.png, or SUBJECT/ROI/LABEL.png)")
    return nested


@dataclass
class GroupScores:
    """One subject and ROI's scores (a row of ``eval --reconstructions``' JSON; docs/outputs.md); None where undefined."""

    subject: str | None
    roi: str | None
    labels: list[str]
    pixel_correlation: np.ndarray
    identification_accuracy: np.ndarray
    image_error: float
    features: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def row(self) -> dict[str, object]:
        """The JSON row: means (None where no value is finite), then each layer's, then per image."""
        return {
            "subject": self.subject, "roi": self.roi, "images": len(self.labels),
            "pixel_correlation": finite_mean(self.pixel_correlation),
            "identification_accuracy": finite_mean(self.identification_accuracy),
            "image_error_fraction": self.image_error,
            "features": {layer: {"correlation": finite_mean(r), "identification_accuracy": finite_mean(a)} for layer, (r, a) in self.features.items()},
            "per_image": [
                {"label": label, "pixel_correlation": _value(r), "identification_accuracy": _value(a)}
                for label, r, a in zip(self.labels, self.pixel_correlation, self.identification_accuracy)
            ],
        }


def _value(number: float) -> float | None:
    return float(number) if np.isfinite(number) else None


def score_group(group: Group, truth: TrueImages, encoder: Encoder | None = None, layers: tuple[str, ...] = ()) -> GroupScores:
    """Score one folder of reconstructions against the true images of the same labels (see the module)."""
    labels = sorted(group.images)
    missing = [label for label in labels if label not in truth.paths]
    if missing:
        raise InvertnetError(f"no true image for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} (matched by file name, without suffix)")
    if len(labels) < 2:
        raise InvertnetError(f"{group.subject or 'the folder'}: one reconstruction; the scores compare at least two images")
    recon = [pixels(group.images[label]) for label in labels]
    size = (recon[0].shape[1], recon[0].shape[0])
    odd = [label for label, image in zip(labels, recon) if image.shape != recon[0].shape]
    if odd:
        raise InvertnetError(f"reconstructions of different sizes: {odd[0]} is not {size[0]}x{size[1]} like {labels[0]}")
    made, true = np.stack(recon), np.stack([truth.pixels(label, size) for label in labels])
    reconstructions, true_rows = made.reshape(len(labels), -1), true.reshape(len(labels), -1)
    scores = GroupScores(group.subject, group.roi, labels, pattern_correlation(reconstructions, true_rows),
                         pairwise_identification(reconstructions, true_rows), image_error(reconstructions, true_rows))
    if encoder is not None and layers:
        a, b = encoder_features(encoder, made, layers), encoder_features(encoder, true, layers)
        scores.features = {layer: (pattern_correlation(a[layer], b[layer]), pairwise_identification(a[layer], b[layer])) for layer in layers}
    return scores


def encoder_features(encoder: Encoder, images: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
    """An encoder's features (under a tree's names) of 8-bit images (N, H, W, 3), each resized to its input size (bicubic)."""
    import torch
    from PIL import Image

    from ..encoders.tree_taps import tree_features

    side = encoder.input_size
    batch = np.stack([np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BICUBIC)) for image in images])
    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255).to(encoder.device)
    with torch.no_grad():
        found = tree_features(encoder, tensor, layers)
    return {layer: value.flatten(1).double().cpu().numpy() for layer, value in found.items()}


class TrueImages:
    """The true images in a folder by label (file name without suffix), each read and resized once per size however many groups ask."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise InvertnetError(f"--true {folder}: no such folder")
        self.paths = _images(folder)
        if not self.paths:
            raise InvertnetError(f"--true {folder}: no images in it")
        self._read: dict[tuple[str, tuple[int, int]], np.ndarray] = {}

    def pixels(self, label: str, size: tuple[int, int]) -> np.ndarray:
        """The image of ``label`` as :func:`pixels` reads it at ``size``."""
        if (label, size) not in self._read:
            self._read[label, size] = pixels(self.paths[label], size)
        return self._read[label, size]


def pixels(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image's 8-bit RGB pixels (H, W, 3), resized to ``size`` (width, height) with Pillow's bicubic filter if given."""
    from PIL import Image

    from ..data.imageio import load_image, to_pil

    picture = to_pil(load_image(path))  # exact: load_image reads 8-bit values as k / 255
    if size is not None and picture.size != size:
        picture = picture.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(picture, dtype=np.uint8)


def finite_mean(values: np.ndarray) -> float | None:
    """The mean of the finite values (``np.nanmean`` as the cookbook prints it); None if there are none."""
    kept = values[np.isfinite(values)]
    return float(kept.mean()) if kept.size else None
