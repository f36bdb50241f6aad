"""Reading Caffe ``.caffemodel`` files (a protobuf ``NetParameter``) without Caffe or protobuf.

Only what weights need is read: each layer's name, type and blobs (shape and float data).
Both layer formats are understood: ``layer`` (field 100, ``LayerParameter``: name 1, type 2
(a string), blobs 7) and the deprecated ``layers`` (field 2, ``V1LayerParameter``: name 4,
type 5 (an enum, of which :data:`V1_TYPES` names the ones with weights), blobs 6),
which models of 2014-2016 such as ``bvlc_reference_caffenet.caffemodel`` use. A blob
(``BlobProto``) has its shape in ``shape`` (7, a ``BlobShape`` of int64 ``dim`` 1) or in the
legacy ``num``/``channels``/``height``/``width`` (1-4), and its values in ``data`` (5,
float32) or ``double_data`` (8). Field numbers from Caffe's ``src/caffe/proto/caffe.proto``.
Nothing is executed: the file is data, parsed field by field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InvertnetError
from .guarded import read_input

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MAX_DIM = 1 << 31
"""No blob dimension of a real network comes near 2**31; a larger one is a damaged or hostile file."""
FLOAT_FIELDS = {5: ("<f4", FIXED32), 8: ("<f8", FIXED64)}
"""``BlobProto`` value fields: ``data`` (float32) and ``double_data`` (float64), packed or one value per field."""
V1_TYPES = {4: "Convolution", 14: "InnerProduct", 39: "Deconvolution"}
"""``V1LayerParameter.LayerType`` values of the layers with weights, as the new format's type strings."""


class MalformedCaffeModel(InvertnetError):
    """The bytes are not a well-formed Caffe ``NetParameter``."""


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise MalformedCaffeModel("the file ends inside a number")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise MalformedCaffeModel("a number longer than 64 bits")


def fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of every field of one message; length-delimited values as views."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if number == 0:  # protobuf numbers fields from 1: zeros (a blank file) are refused at the first byte, not walked
            raise MalformedCaffeModel("a field numbered 0 (the bytes are not a protobuf message)")
        if wire == VARINT:
            value, position = _varint(data, position)
            yield number, wire, value
        elif wire == LENGTH:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise MalformedCaffeModel("a field runs past the end of its message")
            yield number, wire, data[position : position + length]
            position += length
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if position + size > len(data):
                raise MalformedCaffeModel("the file ends inside a fixed-size value")
            yield number, wire, data[position : position + size]
            position += size
        else:
            raise MalformedCaffeModel(f"unsupported protobuf wire type {wire} (field {number})")


def _packed_varints(value: int | memoryview) -> list[int]:
    if isinstance(value, int):
        return [value]
    numbers, position = [], 0
    while position < len(value):
        number, position = _varint(value, position)
        numbers.append(number)
    return numbers


def read_blob(message: memoryview) -> torch.Tensor:
    """A ``BlobProto`` as a float32 tensor of its shape."""
    shape: list[int] = []
    legacy = {1: 1, 2: 1, 3: 1, 4: 1}
    has_legacy = False
    floats: list[np.ndarray] = []
    for number, wire, value in fields(message):
        if number == 7 and wire == LENGTH:
            assert isinstance(value, memoryview)
            for inner, _, dim in fields(value):
                if inner == 1:
                    shape += _packed_varints(dim)
        elif number in legacy and wire == VARINT:
            assert isinstance(value, int)
            legacy[number], has_legacy = value, True
        elif number in FLOAT_FIELDS:
            dtype, single = FLOAT_FIELDS[number]
            width = np.dtype(dtype).itemsize
            if wire not in (LENGTH, single) or len(value) % width:  # type: ignore[arg-type]
                raise MalformedCaffeModel(f"a blob's values (field {number}) are not {width}-byte floats")
            floats.append(np.frombuffer(value, dtype=dtype).astype(np.float32, copy=False))  # type: ignore[arg-type]
    values = np.concatenate(floats) if floats else np.zeros(0, np.float32)
    if not shape and has_legacy:
        shape = [legacy[1], legacy[2], legacy[3], legacy[4]]
    if any(dim >= MAX_DIM for dim in shape) or math.prod(shape) != values.size:
        raise MalformedCaffeModel(f"a blob of shape {shape[:8]} holds {values.size} values")
    return torch.from_numpy(values.copy()).reshape(shape)


@dataclass(frozen=True)
class CaffeLayer:
    """One layer with weights: its Caffe type (``Convolution``, ``Deconvolution``, ``InnerProduct``, ...) and blobs."""

    type: str
    blobs: list[torch.Tensor]


def read_layers(path: str | os.PathLike[str], *, max_bytes: int) -> dict[str, CaffeLayer]:
    """Every layer with weights in a ``.caffemodel`` of at most ``max_bytes``: name -> its type and blobs (weights, then bias)."""
    return parse_layers(read_input(path, "the .caffemodel", max_bytes=max_bytes), str(path))


def parse_layers(data: bytes, name: str) -> dict[str, CaffeLayer]:
    """:func:`read_layers` of a ``.caffemodel``'s bytes (``name`` says where they came from, in errors)."""
    layers: dict[str, CaffeLayer] = {}
    try:
        for number, wire, value in fields(memoryview(data)):
            if wire != LENGTH or number not in (2, 100):
                continue
            assert isinstance(value, memoryview)
            name_field, type_field, blobs_field = (1, 2, 7) if number == 100 else (4, 5, 6)
            layer, kind, blobs = "", "", []
            for inner, inner_wire, inner_value in fields(value):
                if inner == name_field and inner_wire == LENGTH:
                    layer = bytes(inner_value).decode("utf-8", "replace")  # type: ignore[arg-type]
                elif inner == type_field:
                    kind = V1_TYPES.get(inner_value, str(inner_value)) if inner_wire == VARINT else bytes(inner_value).decode("utf-8", "replace")  # type: ignore[arg-type]
                elif inner == blobs_field and inner_wire == LENGTH:
                    blobs.append(read_blob(inner_value))  # type: ignore[arg-type]
            if blobs:
                layers[layer] = CaffeLayer(kind, blobs)
    except MalformedCaffeModel as error:
        raise MalformedCaffeModel(f"{name} is not a readable .caffemodel: {error}") from None
    if not layers:
        raise MalformedCaffeModel(f"{name} holds no layer with weights: not a .caffemodel?")
    return layers


def read_caffemodel(path: str | os.PathLike[str], *, max_bytes: int) -> dict[str, list[torch.Tensor]]:
    """Every layer with weights in a ``.caffemodel`` of at most ``max_bytes``: name -> its blobs (weights, then bias)."""
    return {name: layer.blobs for name, layer in read_layers(path, max_bytes=max_bytes).items()}
