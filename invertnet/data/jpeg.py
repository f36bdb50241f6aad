"""Training JPEGs decoded on the GPU with nvJPEG (``train --gpu-decode``).

On the H100 machine, 16 loader workers make 1,700-2,000 training crops a second from JPEG
files with Pillow, a third of what the training step takes (docs/performance.md), while
nvJPEG decodes about 24,000 a second. On this path a loader worker only reads a file and
its header (:func:`read_jpeg`); the batch's JPEGs are decoded in one call to
:func:`torchvision.io.decode_jpeg` on the training device, then resized, cropped and
mirrored there by the same functions, with the same seeds, as on the CPU
(:func:`decode_crops`).

Pillow stays the reference. A worker hands a file to the CPU path whenever nvJPEG could
read it differently or the CPU path would refuse it: not a JPEG; CMYK or YCCK colour; bytes
after the end-of-image marker, or none (a truncated file); anything the header checks of
:func:`invertnet.data.imageio.load_image` refuse. A JPEG that nvJPEG fails on goes to the CPU
path too. The EXIF orientation is read from the header and applied on the device as
Pillow's ``exif_transpose`` applies it.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import ExifTags, Image
from torchvision.io import ImageReadMode, decode_jpeg

from ..encoders.alexnet import INPUT_SIZE
from ..files.guarded import open_input
from .datasets import train_crops
from .imageio import check_geometry, elongated

END_OF_IMAGE = b"\xff\xd9"
DECODABLE_MODES = ("RGB", "L")
MAX_JPEG_BYTES = 1 << 28
"""A JPEG over 256 MB is left to the CPU path (Pillow, which bounds it by pixels) rather than read whole here."""
"""Pillow modes of the JPEGs nvJPEG gets (YCbCr and grayscale); CMYK and YCCK stay on Pillow."""


@dataclass
class EncodedJpeg:
    """A JPEG file as a loader worker reads it: its bytes and what decoding it needs."""

    data: bytes
    orientation: int
    """The EXIF orientation (1-8; 1 is upright)."""
    index: int
    """The file's index in its source (after any skipped files)."""
    seed: int
    """The augmentation seed of the sample."""


@dataclass
class EncodedBatch:
    """A batch as a worker hands it to the main process: finished crops and JPEGs, by position.

    The JPEGs' bytes travel in one tensor, one block of shared memory per batch rather than
    one per file (each block costs the receiving process a file descriptor and a mapping).
    """

    size: int
    crops: dict[int, torch.Tensor]
    """Position -> the crop the CPU path made (the files nvJPEG does not get)."""
    jpegs: dict[int, EncodedJpeg]
    """Position -> a JPEG without its bytes, which are in ``packed``."""
    lengths: list[int]
    packed: torch.Tensor
    """Every JPEG's bytes, one after another, in the order of ``jpegs``; ``lengths`` says where each ends."""

    @classmethod
    def collate(cls, items: list[torch.Tensor | EncodedJpeg]) -> EncodedBatch:
        jpegs = {position: item for position, item in enumerate(items) if isinstance(item, EncodedJpeg)}
        packed = torch.frombuffer(bytearray(b"".join(item.data for item in jpegs.values()) or b"\0"), dtype=torch.uint8)
        return cls(
            size=len(items),
            crops={position: item for position, item in enumerate(items) if isinstance(item, torch.Tensor)},
            jpegs={position: EncodedJpeg(b"", item.orientation, item.index, item.seed) for position, item in jpegs.items()},
            lengths=[len(item.data) for item in jpegs.values()],
            packed=packed,
        )

    def files(self) -> list[torch.Tensor]:
        """Each JPEG's bytes (views of ``packed``), in the order of ``jpegs``."""
        return list(self.packed[: sum(self.lengths)].split(self.lengths)) if self.lengths else []


def read_jpeg(path: str | os.PathLike[str]) -> tuple[bytes, int] | None:
    """A JPEG file's bytes and EXIF orientation, or None where the CPU path must read it.

    The file is read once; Pillow parses the header from memory (no pixels are decoded)
    with the same refusals as :func:`invertnet.data.imageio.load_image`, so a file that path
    would refuse or treat specially comes back as None.
    """
    try:
        with open_input(path, "image", max_bytes=MAX_JPEG_BYTES) as handle:
            data = handle.read(MAX_JPEG_BYTES)
        if not data.endswith(END_OF_IMAGE):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != "JPEG" or image.mode not in DECODABLE_MODES:
                    return None
                check_geometry(path, image)
                if elongated(*image.size):  # the CPU path crops it to its central band
                    return None
                orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # the CPU path reads it again and says what is wrong
        return None
    return data, orientation if orientation in range(1, 9) else 1


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """``image`` (C, H, W) turned upright for EXIF ``orientation``, as Pillow's ``exif_transpose``."""
    if orientation == 2:
        return image.flip(-1)
    if orientation == 3:
        return image.flip(-2, -1)
    if orientation == 4:
        return image.flip(-2)
    if orientation == 5:
        return image.transpose(-2, -1)
    if orientation == 6:
        return image.rot90(-1, (-2, -1))
    if orientation == 7:
        return image.transpose(-2, -1).flip(-2, -1)
    if orientation == 8:
        return image.rot90(1, (-2, -1))
    return image


def _decode(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor | None]:
    """The JPEGs as (3, H, W) uint8 on ``device`` (RGB mode: grayscale comes back as 3 channels); None for any nvJPEG fails on."""
    if not data:
        return []
    try:
        images: list[torch.Tensor | None] = list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:  # one bad file fails the batch: find it
        images = []
        for one in data:
            try:
                images.append(decode_jpeg(one, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                images.append(None)
    return images


def decode_crops(
    batch: EncodedBatch, device: torch.device, reference: Callable[[int, int], tuple[torch.Tensor, list[int]]], size: int = INPUT_SIZE
) -> tuple[torch.Tensor, list[int]]:
    """The ``size`` training crops of a batch on ``device``, in order, and the file indices skipped on the way.

    The JPEGs are decoded in one call, turned upright, then cropped with
    :func:`invertnet.data.datasets.train_crops` a group of same-sized images at a time (ImageNet has a
    few common sizes). ``reference(index, seed)`` is the CPU path, for a JPEG nvJPEG fails
    on: it reads the file with Pillow, or skips it for the next readable one.
    """
    crops: list[torch.Tensor | None] = [None] * batch.size
    for position, crop in batch.crops.items():
        crops[position] = crop.to(device, non_blocking=True)
    skipped: list[int] = []
    groups: dict[tuple[int, int], list[tuple[int, torch.Tensor, int]]] = {}
    for (position, item), image in zip(batch.jpegs.items(), _decode(batch.files(), device)):
        if image is None:
            crop, more = reference(item.index, item.seed)
            crops[position] = crop.to(device, non_blocking=True)
            skipped += more
            continue
        image = orient(image, item.orientation)
        groups.setdefault((image.shape[-2], image.shape[-1]), []).append((position, image, item.seed))
    for members in groups.values():
        images = torch.stack([image for _, image, _ in members]).float() / 255.0
        for (position, _, _), crop in zip(members, train_crops(images, [seed for _, _, seed in members], size)):
            crops[position] = crop
    return torch.stack(crops), skipped
