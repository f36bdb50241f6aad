"""bdpy's feature trees: one ``.mat`` file per image and layer, true or decoded from brain activity.

Two layouts (bdpy's ``Features`` and ``DecodedFeatures``, ``bdpy/dataform/features.py``):

- true features: ``ROOT/LAYER/LABEL.mat``;
- decoded features: ``ROOT/LAYER/SUBJECT/ROI/LABEL.mat`` (or ``.../ROI/decoded_features/LABEL.mat``).

Each file holds one array under ``feat`` with a leading axis of 1 (``save_feature`` writes it; MATLAB
v5 or v7.3, :mod:`invertnet.files.matfiles`). A label is the file's stem: it names the image in
every output, so it (and a subject's or ROI's name) must be a plain file name. The
``statistics.pkl`` bdpy may leave beside a tree is a pickle and is never opened. Listing is bounded:
a folder of more than :data:`MAX_LABELS` files is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvertnetError
from .features import PLAIN_NAME
from .matfiles import read_mat_array

FEATURE_KEY = "feat"
DECODED_FOLDER = "decoded_features"
MAX_LABELS = 100_000


@dataclass(frozen=True)
class TreeItem:
    """One image's features at one layer: its label, its subject and ROI (``None`` in a true-feature tree) and its file."""

    label: str
    path: Path
    subject: str | None = None
    roi: str | None = None

    @property
    def group(self) -> tuple[str | None, str | None]:
        return self.subject, self.roi


def _entries(folder: Path, what: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as scan:
            entries = []
            for entry in scan:
                if entry.name.startswith("."):
                    continue
                entries.append(entry)
                if len(entries) > MAX_LABELS:
                    raise InvertnetError(f"{folder} holds more than {MAX_LABELS:,} entries: not a {what} invertnet reads")
    except (FileNotFoundError, NotADirectoryError):
        raise InvertnetError(f"no such folder: {folder}") from None
    except PermissionError:
        raise InvertnetError(f"{folder}: permission denied") from None
    return sorted(entries, key=lambda entry: entry.name)


def _plain(name: str, folder: Path, what: str) -> str:
    if not PLAIN_NAME.fullmatch(name):
        raise InvertnetError(f"{folder / name}: {what} {name!r} is not a plain file name (up to 100 letters, digits, _ . + -); rename it")
    return name


def _mat_files(folder: Path) -> list[TreeItem]:
    return [
        TreeItem(_plain(entry.name[:-4], folder, "label"), Path(entry.path))
        for entry in _entries(folder, "feature folder") if entry.name.endswith(".mat") and entry.is_file()
    ]


def _subfolders(folder: Path) -> list[str]:
    return [entry.name for entry in _entries(folder, "feature tree") if entry.is_dir()]


@dataclass(frozen=True)
class FeatureTree:
    """A bdpy feature tree: its root, its layers (folder names) and whether it holds decoded features."""

    root: Path
    layers: tuple[str, ...]
    decoded: bool

    def check_layer(self, layer: str) -> str:
        """``layer`` if the tree has it, else one error listing what it has."""
        if layer not in self.layers:
            raise InvertnetError(f"{self.root} has no layer {layer!r} (its layers: {', '.join(self.layers)})")
        return layer

    def groups(self, layer: str) -> list[tuple[str | None, str | None]]:
        """The (subject, ROI) pairs of ``layer`` (one ``(None, None)`` in a true-feature tree)."""
        folder = self.root / self.check_layer(layer)
        if not self.decoded:
            return [(None, None)]
        return [
            (_plain(subject, folder, "subject"), _plain(roi, folder / subject, "ROI"))
            for subject in _subfolders(folder) for roi in _subfolders(folder / subject)
        ]

    def items(self, layer: str, subjects: list[str] | None = None, rois: list[str] | None = None) -> list[TreeItem]:
        """Every file of ``layer``, by subject, ROI and label, restricted to ``subjects`` and ``rois`` when given."""
        folder = self.root / self.check_layer(layer)
        if not self.decoded:
            if subjects or rois:
                raise InvertnetError(f"{self.root} holds true features (LAYER/LABEL.mat): it has no subjects or ROIs to choose")
            return _mat_files(folder)
        groups = self.groups(layer)
        for wanted, index, what in ((subjects, 0, "subject"), (rois, 1, "ROI")):
            present = sorted({group[index] for group in groups})  # type: ignore[type-var]
            missing = [name for name in wanted or [] if name not in present]
            if missing:
                raise InvertnetError(f"{folder} has no {what} {', '.join(missing)} (it has: {', '.join(map(str, present))})")
        items = []
        for subject, roi in groups:
            if (subjects and subject not in subjects) or (rois and roi not in rois):
                continue
            place = folder / str(subject) / str(roi)
            if (place / DECODED_FOLDER).is_dir():
                place = place / DECODED_FOLDER
            items += [TreeItem(item.label, item.path, subject, roi) for item in _mat_files(place)]
        return items


def open_tree(root: str | os.PathLike[str]) -> FeatureTree:
    """The feature tree at ``root``: true (``LAYER/LABEL.mat``) or decoded (``LAYER/SUBJECT/ROI/LABEL.mat``), told apart by its files."""
    root = Path(root)
    if not root.is_dir():
        raise InvertnetError(f"no such folder: {root}")
    layers = tuple(_plain(name, root, "layer") for name in _subfolders(root))
    if not layers:
        raise InvertnetError(f"{root} is not a feature tree: it has no layer folders (bdpy's ROOT/LAYER/LABEL.mat)")
    kinds = {}
    for layer in layers:
        has_files = any(entry.name.endswith(".mat") for entry in _entries(root / layer, "feature folder"))
        kinds[layer] = not has_files
    if len(set(kinds.values())) > 1:
        true = [layer for layer, decoded in kinds.items() if not decoded]
        raise InvertnetError(
            f"{root} mixes true features (LAYER/LABEL.mat: {', '.join(true)}) with decoded ones (LAYER/SUBJECT/ROI/LABEL.mat)"
        )
    return FeatureTree(root, layers, next(iter(kinds.values())))


def read_tree_features(item: TreeItem, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """One file's features as float32 without the leading axis of 1, checked against ``shape`` when given; NaN kept (see :mod:`.scaling`)."""
    array = read_mat_array(item.path, FEATURE_KEY, "feature file")
    if array.ndim < 2 or array.shape[0] != 1:
        raise InvertnetError(f"{item.path}: {FEATURE_KEY!r} has shape {array.shape}; a tree's file holds one image's features, (1, ...)")
    features = array[0]
    if shape is not None and tuple(features.shape) != tuple(shape) and features.size != int(np.prod(shape)):
        raise InvertnetError(
            f"{item.path}: features of shape {'x'.join(map(str, features.shape))}; the layer takes {'x'.join(map(str, shape))}"
        )
    with np.errstate(over="ignore"):  # an overflow is what the next line reports
        features = features.astype(np.float32).reshape(shape if shape is not None else features.shape)
    if np.isinf(features).any():  # checked as cast: a float64 1e300 is infinite in float32
        raise InvertnetError(f"{item.path}: {int(np.isinf(features).sum())} infinite values (as float32)")
    return features
