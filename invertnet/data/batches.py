"""How training batches are made: painted on the device, read by loader workers, or decoded on the GPU.

Every way yields the same samples for a :class:`~invertnet.data.datasets.RunOrder`: the crop of
sample ``p`` depends only on the run's seed and ``p``, so the batches of a resumed run, or of
a run with another number of workers, are the ones an uninterrupted run gets. With
``gpu_decode`` the pixels of JPEG files differ from Pillow's by what separates two JPEG
decoders (see :mod:`invertnet.data.jpeg`); the crops' places and flips do not.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from ..encoders.alexnet import INPUT_SIZE
from ..errors import InvertnetError
from .datasets import RESIZE, TORCHVISION_CROPS, BrokenImage, CropStyle, DeadLeaves, FolderImages, RunOrder, Source, train_crop, train_crops
from .jpeg import EncodedBatch, EncodedJpeg, decode_crops, read_jpeg

Batch = tuple[torch.Tensor, list[int]]
"""Crops (N, 3, S, S) in [0, 1] (S: the encoder's input size), and the indices of the unreadable files skipped for them."""


class TrainingImages(Dataset):
    """Training crops, addressed by ``(index, augmentation_seed)`` pairs from :class:`RunOrder`.

    A broken file is replaced by the next readable one; each item carries the indices it
    skipped so the training loop can count them.
    """

    def __init__(self, source: Source, size: int = INPUT_SIZE, resize: int = RESIZE, style: CropStyle = TORCHVISION_CROPS) -> None:
        self.source, self.size, self.resize, self.style = source, size, resize, style

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, item: tuple[int, int]) -> tuple[object, list[int]]:
        index, seed = item
        skipped: list[int] = []
        for attempt in range(min(len(self.source), 100)):
            candidate = (index + attempt) % len(self.source)
            try:
                return self.prepare(candidate, seed), skipped
            except BrokenImage:
                skipped.append(candidate)
        raise InvertnetError(f"{len(skipped)} images in a row cannot be read in {getattr(self.source, 'root', self.source)}")

    def prepare(self, index: int, seed: int) -> object:
        """The crop of image ``index`` for augmentation ``seed``; :class:`BrokenImage` if it cannot be read."""
        return train_crop(self.source.load(index), torch.Generator().manual_seed(seed), self.size, self.resize, self.style)


class EncodedTrainingImages(TrainingImages):
    """:class:`TrainingImages` whose JPEGs stay encoded (:class:`~invertnet.data.jpeg.EncodedJpeg`) for the GPU;
    every other file is cropped here, as on the CPU path."""

    source: FolderImages

    def prepare(self, index: int, seed: int) -> object:
        encoded = read_jpeg(self.source.files[index])
        if encoded is None:
            return super().prepare(index, seed)
        data, orientation = encoded
        return EncodedJpeg(data, orientation, index, seed)


def collate_training(items: list[tuple[torch.Tensor, list[int]]]) -> Batch:
    """Stack crops; gather the skipped indices of the batch."""
    return torch.stack([image for image, _ in items]), [index for _, skipped in items for index in skipped]


def collate_encoded(items: list[tuple[object, list[int]]]) -> tuple[EncodedBatch, list[int]]:
    """A batch of crops and encoded JPEGs (:class:`~invertnet.data.jpeg.EncodedBatch`); gather the skipped indices."""
    return EncodedBatch.collate([item for item, _ in items]), [index for _, skipped in items for index in skipped]


def synthetic_batches(
    source: DeadLeaves, order: RunOrder, device: torch.device, size: int = INPUT_SIZE, resize: int = RESIZE,
    style: CropStyle = TORCHVISION_CROPS,
) -> Iterator[Batch]:
    """What a DataLoader over :class:`TrainingImages` yields for ``order``, painted and cropped on ``device``.

    The synthetic source needs no files, so its batches are made where they are used: on a
    GPU that is thousands of images a second, with no loader processes.
    """
    items = iter(order)
    while batch := [item for _, item in zip(range(order.batch_size), items)]:
        images = source.batch([index for index, _ in batch], device)
        yield train_crops(images, [seed for _, seed in batch], size, resize, style), []


def default_workers(device: torch.device) -> int:
    """Loader processes per training process: the CPU cores it has (up to 16) on CUDA, one on a CPU.

    Under torchrun the cores are shared between the node's processes (LOCAL_WORLD_SIZE).
    """
    if device.type != "cuda":
        return 1
    per_process = (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(2, min(16, per_process))


def check_gpu_decode(synthetic: bool, resize: int, style: CropStyle) -> None:
    """Refuse ``--gpu-decode`` where its nvJPEG path cannot make the crops asked for: it decodes JPEG files into
    torchvision's crops of images resized to 256 (the autoencoder's 64-of-96 crops and the caffe crops are made by the workers)."""
    if synthetic:
        raise InvertnetError("--gpu-decode decodes JPEG files; --data synthetic has none")
    if resize != RESIZE:
        raise InvertnetError(f"--gpu-decode makes crops of images resized to {RESIZE}, not {resize} (the autoencoder's 64-of-96 crops): leave it off")
    if style != TORCHVISION_CROPS:
        raise InvertnetError("--gpu-decode makes torchvision's crops (short side 256, mirrored); the caffe crops are made by the workers: leave it off")


def training_batches(
    source: Source, order: RunOrder, device: torch.device, workers: int | None = None, gpu_decode: bool = False, size: int = INPUT_SIZE,
    resize: int = RESIZE, style: CropStyle = TORCHVISION_CROPS,
) -> Iterable[Batch]:
    """The ``size`` crops (of images resized to ``resize``) of ``order``'s batches with the skipped indices of each
    (``workers`` defaults to :func:`default_workers`).

    The synthetic source is painted on ``device``. Files are read by a DataLoader's workers;
    with ``gpu_decode`` the workers pass JPEGs on encoded and :func:`decoded_batches` decodes
    them on ``device``.
    """
    if gpu_decode:
        check_gpu_decode(isinstance(source, DeadLeaves), resize, style)
    if isinstance(source, DeadLeaves):
        return synthetic_batches(source, order, device, size, resize, style)
    processes = default_workers(device) if workers is None else workers
    if gpu_decode:
        return decoded_batches(source, order, device, processes, size)
    return _plain_worker_errors(_loader(TrainingImages(source, size, resize, style), collate_training, order, processes, pin_memory=device.type == "cuda"))


def _loader(dataset: TrainingImages, collate: Callable, order: RunOrder, workers: int, pin_memory: bool = False) -> DataLoader:
    """A DataLoader that makes the batches of ``order`` in ``workers`` processes."""
    return DataLoader(
        dataset, batch_size=order.batch_size, sampler=order, collate_fn=collate, num_workers=workers, pin_memory=pin_memory,
        generator=torch.Generator(),  # the loader draws no numbers from the global RNG
    )


def decoded_batches(source: FolderImages, order: RunOrder, device: torch.device, workers: int, size: int = INPUT_SIZE) -> Iterator[Batch]:
    """The batches of ``order`` with their JPEGs decoded on ``device`` (:func:`invertnet.data.jpeg.decode_crops`).

    Decoding runs in the training thread (a background thread on a stream of its own was
    measured slower on the H100). torchvision's decoder waits for its own stream at the
    end of every batch, which is what keeps training below the pipeline's own rate
    (docs/performance.md).
    """
    loader = _loader(EncodedTrainingImages(source, size), collate_encoded, order, workers)
    reference = TrainingImages(source, size)

    def cpu_path(index: int, seed: int) -> tuple[torch.Tensor, list[int]]:
        crop, skipped = reference[(index, seed)]
        assert isinstance(crop, torch.Tensor)
        return crop, skipped

    for batch, skipped in _plain_worker_errors(loader):
        crops, more = decode_crops(batch, device, cpu_path, size)
        yield crops, skipped + more


def _plain_worker_errors(loader: DataLoader) -> Iterator:
    """The loader's batches; an error raised in a worker process comes out as its own message,
    not the worker's traceback that DataLoader folds into it."""
    try:
        yield from loader
    except InvertnetError as error:
        message = str(error).strip()
        if "Original Traceback" in message:
            message = message.splitlines()[-1].split("InvertnetError: ", 1)[-1]
        raise InvertnetError(message) from None
