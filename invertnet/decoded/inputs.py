"""A feature tree's features as reconstruction takes them: per image, per layer, NaN filled and scaled.

What the cookbook's scripts do before reconstructing (``recon_fg_image.py``,
``recon_icnn_image_vgg19_dgn_relu7gen_gd.py``): read ``feat`` of one label at each layer, replace NaN
by the decoder's training mean (``DECODERS/LAYER/SUBJECT/ROI/model/y_mean.mat``, key ``y_mean``),
then scale (:mod:`invertnet.decoded.scaling`) with the true features' SD (``--feature-std``: one key
per layer).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InvertnetError
from ..files.feature_tree import FeatureTree, TreeItem, read_tree_features
from ..files.matfiles import read_mat_array, read_mat_arrays
from .scaling import check_scaling, fill_nan, scale_features

TRAIN_MEAN_KEY = "y_mean"


@dataclass(frozen=True)
class Image:
    """One image of a tree to reconstruct: its label, subject and ROI, and its file at each layer."""

    label: str
    subject: str | None
    roi: str | None
    files: dict[str, Path]

    def output(self, folder: Path, suffix: str = ".png") -> Path:
        """Where its reconstruction goes: ``FOLDER/SUBJECT/ROI/LABEL.png``, or ``FOLDER/LABEL.png`` for true features."""
        place = folder if self.subject is None else folder / self.subject / str(self.roi)
        return place / f"{self.label}{suffix}"

    @property
    def group(self) -> str:
        """``SUBJECT/ROI`` for messages, ``true features`` for a true-feature tree."""
        return "true features" if self.subject is None else f"{self.subject}/{self.roi}"


def tree_images(tree: FeatureTree, layers: list[str], subjects: list[str] | None = None, rois: list[str] | None = None) -> list[Image]:
    """Every image the tree has at all of ``layers`` (the first layer's images; one missing at another layer is an error)."""
    by_layer: dict[str, dict[tuple[str | None, str | None, str], TreeItem]] = {}
    for layer in layers:
        by_layer[layer] = {(item.subject, item.roi, item.label): item for item in tree.items(layer, subjects, rois)}
    first = by_layer[layers[0]]
    if not first:
        raise InvertnetError(f"{tree.root / layers[0]} holds no .mat files for the chosen subjects and ROIs")
    images = []
    for key, item in first.items():
        files = {}
        for layer in layers:
            if key not in by_layer[layer]:
                where = "/".join(part for part in key[:2] if part)
                raise InvertnetError(f"{tree.root}: {key[2]} has {layers[0]} features but none at {layer}{' for ' + where if where else ''}")
            files[layer] = by_layer[layer][key].path
        images.append(Image(item.label, item.subject, item.roi, files))
    return images


@dataclass
class Scaler:
    """NaN filling and scaling for a tree's features (see the module); files read once and kept."""

    scaling: str = "none"
    feature_std: Path | None = None
    decoders: Path | None = None
    _std: dict[str, np.ndarray] = field(default_factory=dict)
    _means: dict[tuple[str, str | None, str | None], np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_scaling(self.scaling, self.feature_std is not None, self.decoders is not None)
        if self.scaling == "none" and self.feature_std is not None:
            raise InvertnetError("--feature-std is used by --feature-scaling feature_std or feature_std_train_mean_center; pass one of them")
        if self.decoders is not None and not Path(self.decoders).is_dir():
            raise InvertnetError(f"--decoders {self.decoders}: no such folder")

    def check(self, tree: FeatureTree, layers: list[str]) -> None:
        """Refuse, before any work, what cannot apply to ``tree``: decoders for true features, an SD file without the layers."""
        if self.decoders is not None and not tree.decoded:
            raise InvertnetError(f"--decoders applies to decoded features (LAYER/SUBJECT/ROI/LABEL.mat); {tree.root} holds true features")
        if self.feature_std is not None:
            self._std.update(read_mat_arrays(self.feature_std, layers, "feature SD file"))

    def train_mean(self, layer: str, image: Image) -> np.ndarray | None:
        """The decoder's training mean for ``layer`` and the image's subject and ROI, or None without ``--decoders``."""
        if self.decoders is None:
            return None
        key = (layer, image.subject, image.roi)
        if key not in self._means:
            path = Path(self.decoders) / layer / str(image.subject) / str(image.roi) / "model" / f"{TRAIN_MEAN_KEY}.mat"
            if not os.path.isfile(path):
                raise InvertnetError(f"no training mean for {layer} of {image.group}: {path} does not exist (--decoders DIR/LAYER/SUBJECT/ROI/model/y_mean.mat)")
            mean = read_mat_array(path, TRAIN_MEAN_KEY, "decoder's training mean")
            if not np.isfinite(mean).all():
                raise InvertnetError(f"{path}: the training mean holds NaN or infinite values")
            self._means[key] = mean
        return self._means[key]

    def features(self, image: Image, layer: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The image's features at ``layer``: read, NaN filled, scaled, float32."""
        path = image.files[layer]
        raw = read_tree_features(TreeItem(image.label, path, image.subject, image.roi), shape)
        mean = self.train_mean(layer, image)
        if mean is not None:
            if mean.size != raw.size:
                raise InvertnetError(f"the training mean for {layer} of {image.group} holds {mean.size:,} values, {path} {raw.size:,}")
            mean = mean.reshape(raw.shape)
        filled = fill_nan(raw, mean, str(path))
        try:
            return scale_features(filled, self.scaling, self._std.get(layer), mean)
        except InvertnetError as error:
            raise InvertnetError(f"{path}: {error}") from None
