"""Reading images of any kind safely, and writing images, strips, grids and GIFs.

Every image inside invertnet is a float tensor (3, H, W), RGB in [0, 1]. Reading applies
the EXIF orientation, scales 16-bit data, composites alpha on a white background and
converts CMYK, palette and bilevel images. It refuses, before decoding anything, what would
hang or exhaust memory: files that are not regular files (a FIFO blocks its reader), images
over Pillow's decompression-bomb threshold, and animations. An image whose sides are more
than :data:`MAX_ASPECT` times apart (a panorama) is read as its central band, so that its
resize to a 256-pixel short side stays bounded (1x30000 pixels would otherwise become
256x7,680,000).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.utils import make_grid

from ..errors import InvertnetError
from ..files.atomic import atomic_path
from ..files.guarded import open_input

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MAX_ASPECT = 32
"""Longest side over shortest kept: a longer side is centre-cropped to this many times the short side before anything
is resized, so a 256 x 8,192 image is the most a resize to a 256-pixel short side makes (every crop lies in it)."""
BACKGROUND = (255, 255, 255)
"""What transparent pixels are composited on."""


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to an (H, W, 3) float32 array in [0, 1]."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        gray = np.clip(array / scale, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        gray = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, BACKGROUND + (255,))
        image = Image.alpha_composite(background, image)
    rgb = image.convert("RGB")
    return np.asarray(rgb, dtype=np.float32) / 255.0


def load_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an image file as a (3, H, W) float tensor in [0, 1].

    Raises :class:`InvertnetError` for a missing, unreadable, truncated or non-image file and
    for images over Pillow's decompression-bomb limit.
    """
    path = Path(path)
    with open_input(path, "image") as handle:
        return _decode(handle, path)


def read_image_stream(stream: BinaryIO, name: str = "stdin") -> torch.Tensor:
    """Read one image from a byte stream (a pipe: ``invertnet invert -``), at most :data:`MAX_STREAM_BYTES`."""
    data = stream.read(MAX_STREAM_BYTES + 1)
    if len(data) > MAX_STREAM_BYTES:
        raise InvertnetError(f"{name}: more than {MAX_STREAM_BYTES // 2**20} MiB, too large for one image; save it to a file first")
    if not data:
        raise InvertnetError(f"{name}: no image data (nothing was piped in)")
    return _decode(io.BytesIO(data), Path(name))


MAX_STREAM_BYTES = 256 * 2**20


def _decode(handle: BinaryIO, path: Path) -> torch.Tensor:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                check_geometry(path, image)
                image.load()
                image = central_band(ImageOps.exif_transpose(image))
                array = _to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvertnetError(
            f"{path}: refused, the image is too large (over {Image.MAX_IMAGE_PIXELS:,} pixels, Pillow's decompression-bomb threshold); shrink it first"
        ) from None
    except UnidentifiedImageError as error:
        raise InvertnetError(f"{path} is not an image Pillow can read") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InvertnetError(f"{path} cannot be read (truncated or corrupt): {error}") from error
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()


def check_geometry(path: Path, image: Image.Image) -> None:
    """Refuse, from the header alone, animations and shapes whose resize would exhaust memory."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise InvertnetError(f"{path} holds {frames} frames (an animation or a multi-page file): save the one you want as its own image")
    if min(image.size) < 1:
        raise InvertnetError(f"{path} is {image.size[0]}x{image.size[1]} pixels: an image with no pixels")


def elongated(width: int, height: int) -> bool:
    """Whether the long side is more than :data:`MAX_ASPECT` times the short one (:func:`central_band` crops it)."""
    return max(width, height) > MAX_ASPECT * min(width, height)


def central_band(image: Image.Image) -> Image.Image:
    """``image`` with its long side centre-cropped to :data:`MAX_ASPECT` times the short side (unchanged if within).

    A 60 x 2,000 panorama is read as its central 60 x 1,920 band: the centre crops are the same, and a
    resize to a 256-pixel short side stays bounded however elongated the file is.
    """
    width, height = image.size
    if not elongated(width, height):
        return image
    keep = MAX_ASPECT * min(width, height)
    if width > height:
        left = (width - keep) // 2
        return image.crop((left, 0, left + keep, height))
    top = (height - keep) // 2
    return image.crop((0, top, width, top + keep))


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Quantise [0, 1] images to uint8 exactly as a PNG file stores them."""
    return images.detach().clamp(0, 1).mul(255).round().to(torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    """A (3, H, W) float tensor in [0, 1] as a Pillow RGB image."""
    return Image.fromarray(to_uint8(image.cpu()).permute(1, 2, 0).numpy(), mode="RGB")


def _atomic_save(image: Image.Image, path: Path, **kwargs: object) -> Path:
    format = kwargs.pop("format", None) or Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_path(path) as tmp:
        image.save(tmp, format=format, **kwargs)
    return path


def save_image(image: torch.Tensor, path: str | os.PathLike[str]) -> Path:
    """Write a (3, H, W) image in [0, 1] (PNG unless the suffix says otherwise), atomically."""
    return _atomic_save(to_pil(image), Path(path))


def strip(images: Sequence[torch.Tensor] | torch.Tensor, padding: int = 2) -> torch.Tensor:
    """Images side by side in one row, separated by white padding."""
    return grid(images, columns=len(images), padding=padding)


def grid(images: Sequence[torch.Tensor] | torch.Tensor, columns: int, padding: int = 2) -> torch.Tensor:
    """Images in rows of ``columns``, separated by white padding."""
    batch = torch.stack(list(images)) if not isinstance(images, torch.Tensor) else images
    return make_grid(batch.detach().float().cpu().clamp(0, 1), nrow=columns, padding=padding, pad_value=1.0)


def save_gif(frames: Sequence[torch.Tensor], path: str | os.PathLike[str], duration_ms: int = 200) -> Path:
    """Write frames as an animated GIF that plays forwards then backwards, looping forever."""
    pictures = [to_pil(frame) for frame in frames]
    sequence = pictures + pictures[-2:0:-1]
    return _atomic_save(sequence[0], Path(path), format="GIF", save_all=True, append_images=sequence[1:], duration=duration_ms, loop=0)
