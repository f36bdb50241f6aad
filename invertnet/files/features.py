"""Feature files: one row of features per image, in and out (``invertnet features``, ``invert --features``).

The contract (README, "Features in and out"): an array of shape (N, *S), where S is the layer's feature
shape (C, H, W for a map, D for a vector), row i the features of image i, floats (16, 32 or 64 bits;
read as float32). Two formats, by suffix:

- ``.npy``: NumPy's format, C or Fortran order, any byte order; never unpickled (object arrays are refused).
- ``.safetensors``: one tensor named ``features``; metadata ``invertnet.names`` (a JSON list of one name per row,
  the images' names), ``invertnet.encoder``, ``invertnet.layer`` and ``invertnet.schema`` (``invertnet.features/1``),
  which :func:`write_features` writes and :func:`read_features` returns when present.

A file from elsewhere is hostile input: a regular file, bounded, its header checked before its data
is read, every value finite.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import InvertnetError
from .atomic import atomic_path
from .guarded import check_input, open_input

SCHEMA = "invertnet.features/1"
SUFFIXES = (".npy", ".safetensors")
MAX_FEATURE_BYTES = 8 << 30
"""The largest feature file read: 8 GiB (10,000 ResNet-50 layer4 maps in float64 are 8 GB)."""
MAX_ROWS = 100_000
TENSOR = "features"
FLOAT_KINDS = ("f2", "f4", "f8")
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
"""A name read from a file (a feature row's, a tree's label, subject or ROI) becomes part of an output's path only if it is this
plain: no path, no hidden file, at most 100 characters."""


@dataclass
class Features:
    """Rows of features and what the file says of them (names, encoder and layer: empty where it says nothing)."""

    values: torch.Tensor  # (N, *S), float32
    names: list[str] = field(default_factory=list)
    encoder: str = ""
    layer: str = ""


def check_suffix(path: Path, flag: str) -> None:
    """Refuse a feature file whose suffix names no format invertnet writes or reads."""
    if path.suffix.lower() not in SUFFIXES:
        raise InvertnetError(f"{flag} {path}: name a {' or '.join(SUFFIXES)} file (the suffix picks the format)")


def write_features(features: Features, path: str | os.PathLike[str]) -> Path:
    """Write ``features`` to ``path`` (``.npy`` or ``.safetensors``) through a temporary file and a rename."""
    path = Path(path)
    check_suffix(path, "--out")
    values = features.values.detach().float().cpu().contiguous()
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".npy":
            with open(tmp, "wb") as handle:  # our own new temporary file
                np.save(handle, values.numpy(), allow_pickle=False)
        else:
            metadata = {"invertnet.schema": SCHEMA, "invertnet.names": json.dumps(features.names, allow_nan=False),
                        "invertnet.encoder": features.encoder, "invertnet.layer": features.layer}
            save_file({TENSOR: values}, str(tmp), metadata={"format": "pt", **metadata})
    return path


def read_features(path: str | os.PathLike[str]) -> Features:
    """The features in ``path`` (see the module docstring), as float32, or one clear error."""
    path = Path(path)
    check_suffix(path, "--features")
    features = _read_npy(path) if path.suffix.lower() == ".npy" else _read_safetensors(path)
    values = features.values
    if values.dim() < 2 or values.shape[0] < 1:
        raise InvertnetError(f"{path}: features must be an array of shape (images, ...), one row per image; it is {tuple(values.shape)}")
    if values.shape[0] > MAX_ROWS:
        raise InvertnetError(f"{path}: {values.shape[0]:,} rows; invertnet reads at most {MAX_ROWS:,} at once")
    finite = torch.isfinite(values).flatten(1).all(1)
    if not bool(finite.all()):
        rows = [str(i) for i in torch.nonzero(~finite).flatten()[:5].tolist()]
        raise InvertnetError(f"{path}: row {', '.join(rows)}{' ...' if (~finite).sum() > 5 else ''} holds NaN or infinite values")
    if features.names and len(features.names) != values.shape[0]:
        raise InvertnetError(f"{path}: {len(features.names)} names for {values.shape[0]} rows")
    return features


def _read_npy(path: Path) -> Features:
    """A ``.npy`` file, its header checked before any data is read, nothing unpickled."""
    size = check_input(path, "feature file", max_bytes=MAX_FEATURE_BYTES)
    with open_input(path, "feature file", max_bytes=MAX_FEATURE_BYTES) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version not in ((1, 0), (2, 0), (3, 0)):
                raise ValueError(f"format version {version}")
            header = handle.read(4 if version != (1, 0) else 2)
            length = int.from_bytes(header, "little")
            if length > 1 << 16:
                raise ValueError("a header longer than 64 KiB")
            fields = ast.literal_eval(handle.read(length).decode("latin1" if version != (3, 0) else "utf8"))
            shape, fortran, descr = fields["shape"], fields["fortran_order"], fields["descr"]
        except (ValueError, SyntaxError, KeyError, TypeError, UnicodeDecodeError, MemoryError, RecursionError) as error:
            raise InvertnetError(f"{path} is not a NumPy .npy file invertnet can read ({error})") from None
        if not isinstance(descr, str) or descr.lstrip("<>|=") not in FLOAT_KINDS:
            raise InvertnetError(f"{path}: features must be floats (float16, float32 or float64), not {descr!r}")
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and 0 <= n for n in shape) and isinstance(fortran, bool)):
            raise InvertnetError(f"{path}: its header's shape {shape!r} is not a shape")
        dtype = np.dtype(descr)
        expected = math.prod(shape) * dtype.itemsize
        if expected > size - handle.tell():
            raise InvertnetError(f"{path} is truncated: its header promises {expected:,} bytes of data, the file holds {size - handle.tell():,}")
        data = handle.read(expected)
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return Features(torch.from_numpy(array.astype(np.float32, order="C")))


def _read_safetensors(path: Path) -> Features:
    """A ``.safetensors`` file with one tensor, ``features`` (or any one name), and invertnet's metadata if any."""
    check_input(path, "feature file", max_bytes=MAX_FEATURE_BYTES)
    try:
        with safe_open(str(path), framework="pt") as handle:
            keys, metadata = list(handle.keys()), handle.metadata() or {}
            if len(keys) != 1 and TENSOR not in keys:
                raise InvertnetError(f"{path} holds {len(keys)} tensors ({', '.join(keys[:5])}): name the features {TENSOR!r}")
            values = handle.get_tensor(TENSOR if TENSOR in keys else keys[0])
    except (SafetensorError, OSError, ValueError) as error:
        raise InvertnetError(f"{path} is not a readable safetensors file: {error}") from None
    if not values.is_floating_point():
        raise InvertnetError(f"{path}: features must be floats, not {values.dtype}")
    names: list[str] = []
    if "invertnet.names" in metadata:
        try:
            names = json.loads(metadata["invertnet.names"])
        except (ValueError, RecursionError):
            names = None  # type: ignore[assignment]
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise InvertnetError(f"{path}: its invertnet.names metadata is not a JSON list of names")
    return Features(values.float(), names, str(metadata.get("invertnet.encoder", "")), str(metadata.get("invertnet.layer", "")))
