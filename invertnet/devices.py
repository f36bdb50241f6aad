"""Choosing the torch device from ``--device auto|cpu|cuda[:N]``."""

from __future__ import annotations

import torch

from .errors import InvertnetError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else the CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise InvertnetError(f"unknown device {name!r}: use auto, cpu or cuda") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvertnetError("--device cuda was asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
    if device.type not in ("cpu", "cuda"):
        raise InvertnetError(f"unsupported device {name!r}: use auto, cpu or cuda")
    return device
