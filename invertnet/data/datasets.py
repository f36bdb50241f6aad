"""Image sources (folders, ILSVRC-2012, synthetic dead leaves) and the training/eval crops.

A source maps an index to an image (3, H, W) in [0, 1]. Training takes a random crop of the
encoder's input size (224 for torchvision's AlexNet, 227 for CaffeNet) of the image resized
to 256 on its short side, with a random horizontal flip; evaluation takes the center crop,
as torchvision's ImageNet weights define it. The ``caffe`` crop style (``--crops caffe``) is the
authors' instead: images squashed to 256x256 (the ILSVRC-2012 LMDB their Caffe data layer
read), random crops with no mirroring (``crop_size: 227``, ``mirror: false`` in the data layer
of KamitaniLab/End2EndDeepImageReconstruction's ``net_templates/data_images.prototxt``), the
center crop for evaluation (Caffe's test phase). The randomness of every
training sample is a pure function of ``(seed, position in the run)`` (:class:`RunOrder`),
so a resumed run sees exactly the data an uninterrupted one would, whatever the number of
loader workers. :mod:`invertnet.data.batches` makes the training batches from these pieces.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Sampler
from torchvision.transforms.v2 import functional as TF

from ..encoders.alexnet import INPUT_SIZE
from ..errors import InvertnetError, named
from ..names import CROP_NAMES, SPLITS, SYNTHETIC
from .deadleaves import draw_shapes, paint
from .imageio import IMAGE_SUFFIXES, load_image, to_uint8

RESIZE = 256


@dataclass(frozen=True)
class CropStyle:
    """How an image becomes an encoder input besides the crop's size: how it is resized, and whether training mirrors it."""

    square: bool = False
    """Resize both sides to the resize size (Caffe's 256x256 ImageNet), not the short side."""
    mirror: bool = True
    """Mirror half of the training crops."""


CROP_STYLES = dict(zip(CROP_NAMES, (CropStyle(), CropStyle(square=True, mirror=False))))
TORCHVISION_CROPS = CROP_STYLES["torchvision"]


def crop_style(name: str) -> CropStyle:
    """The crop style ``name``, or a clear error."""
    if name not in CROP_STYLES:
        raise InvertnetError(f"unknown crop style {name!r}: choose one of {', '.join(CROP_STYLES)}")
    return CROP_STYLES[name]
SYNTHETIC_SIZE = {"train": 2**31 - 1, "val": 50_000}


def mix_seed(*values: int) -> int:
    """A 63-bit hash of integers (splitmix64 steps), for seeding per-sample and per-step generators."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = (state ^ (value & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        state = (state ^ (state >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 29
    return state & 0x7FFFFFFFFFFFFFFF


class BrokenImage(Exception):
    """A file inside a data folder that cannot be decoded (skipped and counted in training)."""


def image_files(root: Path) -> list[Path]:
    """Every image file under ``root``, each real file once, in sorted order.

    Symbolic links to folders are followed, but every real folder is read once, so a link
    loop (``ln -s . again``) ends and a folder linked twice is not counted twice; a link to a
    file already listed is dropped; FIFOs, sockets and broken links are skipped (opening a
    FIFO blocks). An unreadable folder is an error: it would silently shrink the data.
    """
    folders_seen: set[tuple[int, int]] = set()
    candidates: list[tuple[Path, str, bool]] = []  # (path, real path, is a link)

    def walk(folder: Path) -> None:
        try:
            stat = os.stat(folder)
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            raise InvertnetError(f"cannot read the data folder {folder}: {error.strerror}") from None
        if (stat.st_dev, stat.st_ino) in folders_seen:
            return
        folders_seen.add((stat.st_dev, stat.st_ino))
        real_folder = os.path.realpath(folder)
        subfolders = []
        for entry in entries:
            if entry.is_dir():
                subfolders.append(Path(entry.path))
            elif entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file():
                link = entry.is_symlink()
                candidates.append((Path(entry.path), os.path.realpath(entry.path) if link else os.path.join(real_folder, entry.name), link))
        for subfolder in subfolders:
            walk(subfolder)

    walk(root)
    seen = {real for _, real, link in candidates if not link}  # the files themselves win over links to them
    found = [path for path, _, link in candidates if not link]
    for path, real, link in candidates:
        if link and real not in seen:
            seen.add(real)
            found.append(path)
    return sorted(found)


def unique_names(paths: list[Path]) -> list[str]:
    """File-name-safe names for relative paths: the path without its suffix, '/' as '__'.

    Where two files would share a name (``x.jpg`` and ``x.png``; ``a/b.png`` and ``a__b.png``)
    their suffix is kept too, and where that is not enough a number follows, so saved
    reconstructions and per-image rows never overwrite or mix with each other.
    """
    plain = [path.with_suffix("").as_posix().replace("/", "__") for path in paths]
    counts: dict[str, int] = {}
    for name in plain:
        counts[name] = counts.get(name, 0) + 1
    names = [name if counts[name] == 1 else f"{name}{path.suffix.replace('.', '_')}" for name, path in zip(plain, paths)]
    taken: dict[str, int] = {}
    unique = []
    for name in names:
        taken[name] = taken.get(name, 0) + 1
        unique.append(name if taken[name] == 1 else f"{name}~{taken[name]}")
    return unique


class FolderImages:
    """Every image file under a folder, recursively, each real file once, in sorted order (:func:`image_files`)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InvertnetError(f"data folder not found: {self.root}")
        self.files = image_files(self.root)
        if not self.files:
            raise InvertnetError(f"no images in {self.root} (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
        relative = [path.relative_to(self.root) for path in self.files]
        self.names = unique_names(relative)
        self.identity = str(self.root)
        listing = "\n".join(path.as_posix() for path in relative)
        self.fingerprint = hashlib.sha256(listing.encode()).hexdigest()[:16]
        """The file list's hash, not its contents': a run records it, so a moved folder can be recognised."""

    def __len__(self) -> int:
        return len(self.files)

    def name(self, index: int) -> str:
        """A file-name-safe name for image ``index``, unique in the folder (:func:`unique_names`)."""
        return self.names[index]

    def load(self, index: int) -> torch.Tensor:
        try:
            return load_image(self.files[index])
        except InvertnetError as error:
            raise BrokenImage(str(error)) from error


class DeadLeaves:
    """Seeded synthetic images: dead leaves (see :mod:`invertnet.data.deadleaves`), no data on disk.

    Image ``index`` of a split is always the same, on every device.
    """

    def __init__(self, split: str = "train", size: int = RESIZE, shapes: int = 500) -> None:
        if split not in SPLITS:
            raise InvertnetError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
        self.split, self.size, self.shapes = split, size, shapes
        self.identity = f"{SYNTHETIC}:{split}"
        self.fingerprint = self.identity

    def __len__(self) -> int:
        return SYNTHETIC_SIZE[self.split]

    def name(self, index: int) -> str:
        return f"{SYNTHETIC}-{self.split}-{index:06d}"

    def load(self, index: int) -> torch.Tensor:
        return self.batch([index])[0]

    def batch(self, indices: list[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """Images ``indices`` (N, 3, size, size), painted on ``device``."""
        shapes = [draw_shapes(mix_seed(SPLITS.index(self.split), index), self.size, self.shapes) for index in indices]
        return paint(shapes, self.size, device)


Source = FolderImages | DeadLeaves


def has_splits(data: str | os.PathLike[str]) -> bool:
    """Whether ``--data`` has train and val splits: ``synthetic``, or an ILSVRC-2012 root (train/ or val/ in it)."""
    return str(data) == SYNTHETIC or any((Path(data) / name).is_dir() for name in SPLITS)


def open_source(data: str | os.PathLike[str], split: str = "train") -> Source:
    """The images named by ``--data``: ``synthetic``, an ILSVRC-2012 root, or any image folder.

    An ILSVRC-2012 root is a folder with ``train/`` and/or ``val/`` in it; ``split`` picks one.
    Any other folder is used as it is, whatever the split.
    """
    if split not in SPLITS:
        raise InvertnetError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    if str(data) == SYNTHETIC:
        return DeadLeaves(split)
    root = Path(data)
    if not root.exists():
        raise InvertnetError(f"data folder not found: {root} (or use --data synthetic)")
    if not root.is_dir():
        raise InvertnetError(f"{named('data')} must be a folder or 'synthetic', not a file: {root}")
    if has_splits(root):
        if not (root / split).is_dir():
            raise InvertnetError(f"{root} looks like an ILSVRC-2012 root but has no {split}/ folder")
        return FolderImages(root / split)
    return FolderImages(root)


def resize_image(image: torch.Tensor, size: int = RESIZE, style: CropStyle = TORCHVISION_CROPS) -> torch.Tensor:
    """The short side to ``size`` (torchvision's AlexNet preset), or both sides for the ``caffe`` style; bilinear, antialiased."""
    shape = [size, size] if style.square else [size]
    return TF.resize(image, shape, interpolation=TF.InterpolationMode.BILINEAR, antialias=True).clamp(0, 1)


def eval_crop(image: torch.Tensor, size: int = INPUT_SIZE, resize: int = RESIZE, style: CropStyle = TORCHVISION_CROPS) -> torch.Tensor:
    """The evaluation input: resized to ``resize``, center ``size`` crop (the encoder's), quantised to 8 bits like a PNG."""
    crop = TF.center_crop(resize_image(image, resize, style), [size, size])
    return to_uint8(crop).float() / 255.0


def _crop_choice(height: int, width: int, generator: torch.Generator, size: int) -> tuple[int, int, bool]:
    """Where the random training crop of a resized image starts, and whether it is mirrored."""
    top = int(torch.randint(height - size + 1, (1,), generator=generator))
    left = int(torch.randint(width - size + 1, (1,), generator=generator))
    return top, left, bool(torch.rand((), generator=generator) < 0.5)


def train_crop(
    image: torch.Tensor, generator: torch.Generator, size: int = INPUT_SIZE, resize: int = RESIZE, style: CropStyle = TORCHVISION_CROPS,
) -> torch.Tensor:
    """The training input: resized to ``resize``, a random ``size`` crop (the encoder's), a random horizontal flip unless the style has none."""
    image = resize_image(image, resize, style)
    top, left, flip = _crop_choice(*image.shape[-2:], generator, size)
    crop = image[:, top : top + size, left : left + size]
    return (crop.flip(-1) if flip and style.mirror else crop).contiguous()


def train_crops(
    images: torch.Tensor, seeds: list[int], size: int = INPUT_SIZE, resize: int = RESIZE, style: CropStyle = TORCHVISION_CROPS,
) -> torch.Tensor:
    """:func:`train_crop` of every image of a same-sized batch, image ``i`` with seed ``seeds[i]``.

    The same pixels as one call per image, in a few kernels for the whole batch: on a GPU
    the per-image kernels of the single version cost more than the painting.
    """
    images = resize_image(images, resize, style)
    choices = [_crop_choice(*images.shape[-2:], torch.Generator().manual_seed(seed), size) for seed in seeds]
    crops = torch.stack([image[:, top : top + size, left : left + size] for image, (top, left, _) in zip(images, choices)])
    if not style.mirror:
        return crops
    flips = torch.tensor([flip for _, _, flip in choices]).view(-1, 1, 1, 1)
    if images.is_cuda:  # a copy from pinned memory does not wait for the GPU's queued work, a plain one does
        flips = flips.pin_memory().to(images.device, non_blocking=True)
    return torch.where(flips, crops.flip(-1), crops)


@dataclass
class RunOrder(Sampler[tuple[int, int]]):
    """Which image, and which augmentation, every sample of a run gets.

    Sample ``p`` of the run (``p = step * global_batch + rank * batch + k``) uses epoch
    ``p // n`` of a per-epoch seeded permutation, so any step can be started from without
    replaying the ones before it. Sources too large to permute are indexed by a hash.
    """

    size: int
    seed: int
    batch_size: int
    start_step: int
    steps: int
    rank: int = 0
    world_size: int = 1

    _PERMUTE_LIMIT = 50_000_000

    def __post_init__(self) -> None:
        self._epoch, self._permutation = -1, torch.empty(0, dtype=torch.long)

    def _index(self, position: int) -> int:
        if self.size > self._PERMUTE_LIMIT:
            return mix_seed(self.seed, position) % self.size
        epoch = position // self.size
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch, 1))
            self._epoch, self._permutation = epoch, torch.randperm(self.size, generator=generator)
        return int(self._permutation[position % self.size])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        global_batch = self.batch_size * self.world_size
        for step in range(self.start_step, self.steps):
            for k in range(self.batch_size):
                position = step * global_batch + self.rank * self.batch_size + k
                yield self._index(position), mix_seed(self.seed, position, 2)

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.batch_size


def eval_batches(
    source: Source, limit: int | None, batch_size: int, size: int = INPUT_SIZE, style: CropStyle = TORCHVISION_CROPS,
) -> Iterator[tuple[list[str], torch.Tensor]]:
    """Center ``size`` crops of the first ``limit`` images, in batches, with their names.

    Unlike training, a broken file here is an error: every evaluated image must be counted.
    """
    count = len(source) if limit is None else min(limit, len(source))
    for start in range(0, count, batch_size):
        indices = range(start, min(start + batch_size, count))
        images = []
        for index in indices:
            try:
                images.append(eval_crop(source.load(index), size, style=style))
            except BrokenImage as error:
                raise InvertnetError(str(error)) from error
        yield [source.name(index) for index in indices], torch.stack(images)


def eval_count(source: Source, limit: int | None) -> int:
    """How many images :func:`eval_batches` yields."""
    return len(source) if limit is None else min(limit, len(source))


def steps_per_epoch(size: int, global_batch: int) -> int:
    """Steps that see every image of a finite source once."""
    return math.ceil(size / global_batch)
