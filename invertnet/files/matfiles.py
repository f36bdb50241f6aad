"""MATLAB ``.mat`` files from elsewhere: the arrays of bdpy's feature trees, decoders and SD files.

bdpy (KamitaniLab) keeps one array per file under a key: ``feat`` in a feature tree (``save_feature``
writes MATLAB v7.3, which is HDF5, through hdf5storage), ``y_mean`` in a decoder's ``model/`` folder,
one key per layer in an SD file (MATLAB v5, ``scipy.io.savemat``). Both versions are read, as bdpy
reads them (``scipy.io.loadmat``, falling back to HDF5 for v7.3, whose arrays are stored with their
axes reversed: MATLAB is column-major).

Such a file is hostile input. It is opened through :mod:`invertnet.files.guarded` (a regular file,
bounded), and the array's class and shape are read from its header (scipy's ``whosmat``, the HDF5
dataset's shape) before any data, so a small compressed file cannot expand into gigabytes. HDF5
external links, soft links, external storage, virtual datasets and object references (each points
at other files or objects) are refused. Reading needs scipy and h5py: ``pip install 'invertnet[mat]'``.
Nothing is ever unpickled (MATLAB files hold no pickles; bdpy's ``statistics.pkl`` is never opened).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import InvertnetError
from .atomic import atomic_path
from .guarded import open_input

MAX_MAT_BYTES = 4 << 30
"""The largest .mat file read (a VGG-19 conv1_1 map of one image is 13 MB in float64)."""
MAX_ELEMENTS = 1 << 28
"""The most values one array may hold (268 million; 2 GB as float64)."""
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_OFFSETS = (0, 512, 1024, 2048)
"""Where an HDF5 superblock may start (MATLAB v7.3 puts a 512-byte header, the user block, before it)."""
FLOAT_CLASSES = ("double", "single")
INSTALL = "reading MATLAB .mat files needs scipy and h5py: pip install 'invertnet[mat]'"


def _scipy_io():  # type: ignore[no-untyped-def]
    try:
        import scipy.io
    except ImportError:
        raise InvertnetError(INSTALL) from None
    return scipy.io


def _h5py():  # type: ignore[no-untyped-def]
    try:
        import h5py
    except ImportError:
        raise InvertnetError(INSTALL) from None
    return h5py


def is_hdf5(head: bytes) -> bool:
    """Whether a file that starts with ``head`` (at least 2,056 bytes of it) is HDF5 (MATLAB v7.3)."""
    return any(head[offset : offset + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE for offset in HDF5_OFFSETS)


def read_mat_array(path: str | os.PathLike[str], key: str, what: str = "MATLAB file", max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    """The float array under ``key`` in a MATLAB v5 or v7.3 file, as float64 or float32, header checked first (see the module).

    Values are returned as they are (NaN and infinities included): what they may be is the caller's to say.
    """
    return read_mat_arrays(path, [key], what, max_elements)[key]


def mat_keys(path: str | os.PathLike[str], what: str = "MATLAB file") -> list[str]:
    """The names of the arrays in a MATLAB file, from its header alone."""
    path = Path(path)
    with open_input(path, what, max_bytes=MAX_MAT_BYTES) as handle:
        if is_hdf5(handle.read(2056)):
            handle.seek(0)
            with _open_hdf5(handle, path) as store:
                return [name for name in store.keys() if not name.startswith("#")]
        handle.seek(0)
        return [name for name, _, _ in _whosmat(handle, path)]


def read_mat_arrays(
    path: str | os.PathLike[str], keys: list[str], what: str = "MATLAB file", max_elements: int = MAX_ELEMENTS,
) -> dict[str, np.ndarray]:
    """The float arrays under ``keys`` in one MATLAB file (see :func:`read_mat_array`)."""
    path = Path(path)
    with open_input(path, what, max_bytes=MAX_MAT_BYTES) as handle:
        head = handle.read(2056)
        handle.seek(0)
        if is_hdf5(head):
            return _read_hdf5(handle, path, keys, max_elements)
        return _read_v5(handle, path, keys, max_elements)


def _whosmat(handle: BinaryIO, path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    io = _scipy_io()
    try:
        return io.whosmat(handle)
    except (ValueError, TypeError, OSError, EOFError, NotImplementedError, MemoryError, UnicodeDecodeError, IndexError) as error:
        raise InvertnetError(f"{path} is not a MATLAB .mat file invertnet can read ({' '.join(str(error).split())[:200]})") from None


def _check_header(path: Path, key: str, shape: tuple[int, ...], kind: str, max_elements: int) -> None:
    if kind not in FLOAT_CLASSES:
        raise InvertnetError(f"{path}: {key!r} holds {kind} values; features and statistics are floating point (double or single)")
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape) or math.prod(shape) > max_elements:
        raise InvertnetError(f"{path}: {key!r} claims a shape of {shape}, more than the {max_elements:,} values invertnet reads from one array")


def _read_v5(handle: BinaryIO, path: Path, keys: list[str], max_elements: int) -> dict[str, np.ndarray]:
    io = _scipy_io()
    found = {name: (tuple(shape), kind) for name, shape, kind in _whosmat(handle, path)}
    for key in keys:
        if key not in found:
            raise InvertnetError(f"{path} has no array {key!r} (it holds: {', '.join(sorted(found)[:8]) or 'nothing'})")
        _check_header(path, key, *found[key], max_elements)
    handle.seek(0)
    try:
        arrays = io.loadmat(handle, variable_names=keys, mat_dtype=False, squeeze_me=False, chars_as_strings=False)
    except (ValueError, TypeError, OSError, EOFError, NotImplementedError, MemoryError, IndexError) as error:
        raise InvertnetError(f"{path}: reading {', '.join(keys)} failed ({' '.join(str(error).split())[:200]})") from None
    result = {}
    for key in keys:
        array = arrays.get(key)
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f" or tuple(array.shape) != found[key][0]:
            raise InvertnetError(f"{path}: {key!r} is not the float array its header promises")
        result[key] = array
    return result


class _open_hdf5:
    """``h5py.File`` on an already opened (guarded) handle, its errors as one clear one."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle, self.path, self.file = handle, path, None

    def __enter__(self):  # type: ignore[no-untyped-def]
        h5py, handle = _h5py(), self.handle
        try:
            self.file = h5py.File(handle, "r")
        except (OSError, ValueError) as error:
            raise InvertnetError(f"{self.path} is not a readable HDF5 (MATLAB v7.3) file: {' '.join(str(error).split())[:200]}") from None
        return self.file

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


def _read_hdf5(handle: BinaryIO, path: Path, keys: list[str], max_elements: int) -> dict[str, np.ndarray]:
    h5py = _h5py()
    result = {}
    with _open_hdf5(handle, path) as store:
        for key in keys:
            link = store.get(key, getlink=True)
            if link is None:
                names = [name for name in store.keys() if not name.startswith("#")]
                raise InvertnetError(f"{path} has no array {key!r} (it holds: {', '.join(sorted(names)[:8]) or 'nothing'})")
            if not isinstance(link, h5py.HardLink):
                raise InvertnetError(f"{path}: {key!r} is a link to another file or object ({type(link).__name__}); invertnet reads arrays stored in the file")
            dataset = store[key]
            if not isinstance(dataset, h5py.Dataset):
                raise InvertnetError(f"{path}: {key!r} is a group, not an array")
            if dataset.is_virtual or dataset.external:
                raise InvertnetError(f"{path}: {key!r} keeps its data in other files (a virtual dataset or external storage); invertnet refuses it")
            if h5py.check_dtype(ref=dataset.dtype) is not None or dataset.dtype.kind != "f":
                raise InvertnetError(f"{path}: {key!r} holds {dataset.dtype} values (or object references); features and statistics are floats")
            _check_header(path, key, tuple(dataset.shape), "double", max_elements)
            try:
                array = np.asarray(dataset[()])
            except (OSError, ValueError, MemoryError) as error:
                raise InvertnetError(f"{path}: reading {key!r} failed ({' '.join(str(error).split())[:200]})") from None
            result[key] = np.ascontiguousarray(array.T)  # MATLAB's column-major order, as hdf5storage.loadmat reverses it
    return result


def write_mat(arrays: dict[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    """Write ``arrays`` as a MATLAB v5 file (what ``scipy.io.loadmat`` reads), through a temporary file and a rename."""
    io = _scipy_io()
    path = Path(path)
    with atomic_path(path) as tmp:
        io.savemat(str(tmp), arrays, do_compression=False, oned_as="row")
    return path
